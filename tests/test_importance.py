"""Exact moments of importance weights (``exact/importance.py``) against the tilted generator."""
import math

import numpy as np
import pytest

import mcthermo as mt
from mcthermo.exact import generating, importance
from mcthermo.systems.open_system import Channel, OpenSystem, Piece


def _classical_pair(seed=3):
    """A three-level system in two pieces (diagonal H, Davies channels of one bath at beta = 1) and
    a proposal with every channel's rate scaled by its own random factor and another Gibbs start."""
    rng = np.random.default_rng(seed)
    coupling = rng.normal(size=(3, 3))
    coupling = coupling + coupling.T
    pieces, proposal = [], []
    for duration in (0.7, 1.3):
        h = np.diag(np.sort(rng.normal(size=3)) * 2).astype(complex)
        channels = mt.davies_channels(h, coupling, "bath", 1.0, lambda w: 0.4)
        pieces.append(Piece(h, channels, duration))
        proposal.append(Piece(h, [Channel(c.name, c.operator * math.sqrt(rng.uniform(0.3, 3.0)), c.energy,
                                          c.bath) for c in channels], duration))
    baths = {"bath": mt.Bath(beta=1.0)}
    plain = OpenSystem(pieces=pieces, baths=baths, initial=mt.gibbs_state(pieces[0].hamiltonian, 1.0))
    other = OpenSystem(pieces=proposal, baths=baths, initial=mt.gibbs_state(pieces[0].hamiltonian, 0.3))
    return plain, other


@pytest.mark.parametrize("observable", ["work", "heat_bath", "entropy_production", "jumps_bath:+"])
def test_the_first_moment_is_the_generating_function_of_the_tilted_generator(observable):
    plain, _ = _classical_pair()
    name = observable if observable != "jumps_bath:+" else f"jumps_{plain.channel_names[0]}"
    definition = generating.counted(plain, name)
    for t in (-0.7, 0.4, 1.0, 2.5):
        got = importance.log_importance_moment(plain, plain, definition, t, 1)
        assert got == pytest.approx(generating.log_generating_function(plain, name, t), abs=1e-12)


def test_the_second_moment_is_the_generating_function_of_an_auxiliary_system():
    """sum P^2/Q e^{-2tW} is the work generating function at 2t of a system with rates W^2/W' and
    start p0^2/q0 (normalised) -- whose no-jump decay sum W^2/W' is too FAST by
    sum (W - W')^2/W' >= 0 for the required 2 sum W - sum W': a diagonal channel of that rate whose
    jumps carry the work -ln 2 / 2t (weight e^{-2t W} = 2 each) turns that decay into growth.  A
    computation by the quantum tilted generator, independent of the Feynman-Kac matrices."""
    plain, other = _classical_pair()
    t = 1.0
    got = importance.log_importance_moment(plain, other, generating.counted(plain, "work"), t, 2)
    pieces = []
    for p, q in zip(plain.pieces, other.pieces):
        channels, deficit = [], np.zeros(3)
        for c, c_q in zip(p.channels, q.channels):
            w, w_q = np.abs(c.operator) ** 2, np.abs(c_q.operator) ** 2
            ratio = np.where(w > 0, w / np.where(w_q > 0, np.sqrt(w_q), 1.0), 0.0)
            channels.append(Channel(c.name, ratio.astype(complex), c.energy, c.bath))
            deficit += np.where(w_q > 0, (w - w_q) ** 2 / np.where(w_q > 0, w_q, 1.0), 0.0).sum(axis=0)
        doubling = -math.log(2.0) / (2 * t)
        channels.append(Channel("doubling", np.diag(np.sqrt(deficit)).astype(complex), doubling, "bath",
                                drive_work=doubling))
        pieces.append(Piece(p.hamiltonian, channels, p.duration))
    p0 = np.real(np.diag(plain.initial))
    q0 = np.real(np.diag(other.initial))
    start = p0 ** 2 / q0
    auxiliary = OpenSystem(pieces=pieces, baths=plain.baths, initial=np.diag(start / start.sum()))
    expected = generating.log_generating_function(auxiliary, "work", 2 * t) + math.log(start.sum())
    assert got == pytest.approx(expected, abs=1e-12)


def test_relative_variance_of_the_plain_process_is_that_of_plain_sampling():
    plain, _ = _classical_pair()
    definition = generating.counted(plain, "work")
    log_g = generating.log_generating_function
    expected = math.expm1(log_g(plain, "work", 2.0) - 2 * log_g(plain, "work", 1.0))
    assert importance.relative_variance(plain, plain, definition, 1.0) == pytest.approx(expected, rel=1e-11)


def test_a_proposal_that_cannot_draw_a_record_of_the_plain_process_has_no_finite_moment():
    plain, other = _classical_pair()
    silent = OpenSystem(pieces=[Piece(q.hamiltonian, [Channel(c.name, 0 * c.operator, 0.0, c.bath) if k == 0
                                                      else c for k, c in enumerate(q.channels)], q.duration)
                                for q in other.pieces], baths=other.baths, initial=other.initial)
    definition = generating.counted(plain, "work")
    assert importance.log_importance_moment(plain, silent, definition, 1.0) == math.inf
    assert importance.relative_variance(plain, silent, definition, 1.0) == math.inf


def test_a_coherent_unravelling_is_not_computed():
    h = np.array([[0.5, 0.2], [0.2, -0.5]], complex)
    lower = np.array([[0, 0], [1, 0]], complex)
    system = OpenSystem(hamiltonian=h, channels=[Channel("emit", 0.3 * lower, 1.0, "bath")],
                        baths={"bath": mt.Bath(beta=1.0)}, initial=mt.gibbs_state(h, 1.0), duration=1.0)
    definition = generating.counted(system, "work")
    assert importance.log_importance_moment(system, system, definition, 1.0) is None
