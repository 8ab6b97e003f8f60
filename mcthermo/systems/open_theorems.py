"""When the fluctuation theorems of an ``OpenSystem`` can be stated: detailed-balanced partners,
eigenoperator channels, Gibbs starts and the free-energy change of the first and last Hamiltonians.

Shared by the results (``open_results``) and the choice of exponents (``open_exponential``).
Units hbar = k_B = 1.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..exact import tilted


def reverse_partner_reason(system) -> str | None:
    """Why the integral fluctuation theorem cannot even be stated (None if it can)."""
    if not system.measure_energy:
        return "no two-point energy measurement (measure_energy=False): sigma is not defined"
    for name, bath in system.baths.items():
        if bath.zero_temperature:
            return f"bath {name!r} is at zero temperature: one-way channels make sigma infinite"
    for n, piece in enumerate(system.pieces):
        for c in piece.channels:
            adjoint = c.operator.conj().T
            if not any(p.bath == c.bath and abs(p.energy + c.energy) <= 1e-9 * max(1, abs(c.energy))
                       and p.particles == -c.particles and _parallel(p.operator, adjoint)
                       for p in piece.channels):
                return f"channel {c.name!r} (piece {n}) has no reverse partner"
    return None


def _parallel(a, b) -> bool:
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return norm > 0 and abs(abs(np.vdot(a, b)) - norm) <= 1e-9 * norm


def crooks_reason(system) -> str | None:
    """Why Crooks and BAR do not hold for ``system`` and its reversal (None when they do): one
    bath at finite beta, no particle exchange, a Gibbs start at the bath's beta, every channel an
    eigenoperator of its piece's H with a detailed-balanced partner."""
    if len(system.baths) != 1:
        return f"Crooks and BAR need one bath (this system has {len(system.baths)})"
    (name, bath), = system.baths.items()
    if bath.zero_temperature:
        return f"Crooks and BAR need a finite temperature (bath {name!r} has beta = inf)"
    if not system.measure_energy:
        return "Crooks and BAR need the work: no two-point energy measurement (measure_energy=False)"
    if any(c.particles for piece in system.pieces for c in piece.channels):
        return "Crooks and BAR with particle exchange need a grand-canonical start (not supported)"
    if not gibbs_start(system, bath.beta):
        return (f"Crooks and BAR need a start in the Gibbs state of the first Hamiltonian at the "
                f"bath's beta = {bath.beta:g} (declare initial=mt.Gibbs(bath={name!r}))")
    reason = reverse_partner_reason(system) or eigenoperator_reason(system)
    if reason is not None:
        return f"Crooks and BAR need detailed balance: {reason}"
    return None


def eigenoperator_reason(system) -> str | None:
    """The first channel that is not an eigenoperator of its piece's Hamiltonian (it maps
    eigenstates to eigenstates of one Bohr frequency, to 1e-9), or None."""
    for n, piece in enumerate(system.pieces):
        energies, vectors = np.linalg.eigh(piece.hamiltonian)
        scale = max(1.0, float(np.abs(energies).max()))
        bohr = energies[None, :] - energies[:, None]
        for c in piece.channels:
            rotated = np.abs(vectors.conj().T @ c.operator @ vectors)
            main = np.unravel_index(np.argmax(rotated), rotated.shape)
            off = np.where(np.abs(bohr - bohr[main]) <= 1e-9 * scale, 0.0, rotated)
            if off.max() > 1e-9 * rotated.max():
                return f"channel {c.name!r} (piece {n}) is not an eigenoperator of its Hamiltonian"
    return None


def gibbs_start(system, beta: float) -> bool:
    """Whether the system starts in the Gibbs state of its first Hamiltonian at ``beta``: declared
    (``mt.Gibbs``, a bath name), or a dense rho0 equal to it to 1e-10."""
    if system.gibbs_beta is not None:
        return system.gibbs_beta == beta
    e_initial, vectors = tilted.initial_basis(system)
    gibbs = (vectors * np.exp(tilted.log_gibbs_populations(e_initial, beta))) @ vectors.conj().T
    return bool(np.abs(system.initial - gibbs).max() <= 1e-10)


def free_energy_change(system, beta: float) -> float:
    """dF = -(ln Z_final - ln Z_initial) / beta of the first and last Hamiltonians (log space)."""
    e_initial = tilted.initial_basis(system)[0]
    e_final = tilted.final_basis(system)[0]
    return float(-(logsumexp(-beta * e_final) - logsumexp(-beta * e_initial)) / beta)
