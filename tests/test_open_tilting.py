"""Tilted sampling of open systems: exact replayed weights, tilted tails, reweighted theorems."""
import math

import numpy as np
import pytest
from scipy.linalg import expm

import mcthermo as mt
from mcthermo.kernels import replay
from mcthermo.systems import open_tilting
from mcthermo.systems.open_system import Channel, OpenSystem, Piece


def _driven_qubit():
    """A qubit with a coherent drive (the channels are not eigenoperators), two pieces."""
    sx = np.array([[0, 1], [1, 0]], complex)
    sz = np.diag([0.5, -0.5]).astype(complex)
    down = np.array([[0, 0], [1, 0]], complex)
    pieces = [Piece(sz + 0.3 * sx, [Channel("emit", 0.8 * down, 1.0, "b"),
                                    Channel("absorb", 0.5 * down.T, -1.0, "b")], 1.3),
              Piece(1.5 * sz - 0.2 * sx, [Channel("emit", 0.6 * down, 1.0, "b"),
                                          Channel("absorb", 0.7 * down.T, -1.0, "b")], 0.9)]
    rho0 = np.array([[0.3, 0.1], [0.1, 0.7]], complex)
    return OpenSystem(pieces=pieces, baths={"b": mt.Bath(beta=1.0)}, initial=rho0,
                      energy_units={"b": 1.0})


def _density(system, i, j, times, names):
    """p0(i) |<j| e^{-i H_eff (T - t_n)} L_n ... L_1 e^{-i H_eff t_1} |i>|^2 by matrix exponentials
    of each piece's H_eff (independent of the kernel's eigen-decomposition)."""
    e0, v0 = np.linalg.eigh(system.pieces[0].hamiltonian)
    ef, vf = np.linalg.eigh(system.pieces[-1].hamiltonian)
    p0 = np.real(v0[:, i].conj() @ system.initial @ v0[:, i])
    psi = v0[:, i].astype(complex)
    boundaries = np.cumsum([p.duration for p in system.pieces])
    t, q = 0.0, 0
    for piece, end in zip(system.pieces, boundaries):
        gamma = sum(c.operator.conj().T @ c.operator for c in piece.channels)
        h_eff = piece.hamiltonian - 0.5j * gamma
        while q < len(times) and times[q] <= end:
            psi = expm(-1j * h_eff * (times[q] - t)) @ psi
            psi = next(c.operator for c in piece.channels if c.name == names[q]) @ psi
            t, q = times[q], q + 1
        psi = expm(-1j * h_eff * (end - t)) @ psi
        t = end
    return p0 * abs(vf[:, j].conj() @ psi) ** 2


def test_replayed_density_equals_matrix_exponential_formula():
    system = _driven_qubit()
    other = open_tilting.proposal(system, "heat_b", 0.7)
    plain = open_tilting.bare(system, open_tilting.split(system.pieces))
    replays = open_tilting.replays([plain, other])
    names = system.channel_names
    records = [(0, 1, [], []), (1, 0, [0.4], ["emit"]), (0, 0, [0.2, 1.0, 1.5, 2.1],
                                                          ["absorb", "emit", "absorb", "emit"])]
    for i, j, times, channels in records:
        slots = np.array([names.index(c) for c in channels], np.int64)
        for e, reference in enumerate([plain, other]):
            got = replay.log_density(replays, e, i, j, np.array(times, float), slots, len(times))
            assert got == pytest.approx(math.log(_density(reference, i, j, times, channels)),
                                        abs=1e-12)
