"""Exact generating functions G_X(s) = <e^{-s X}> of open systems (log space, tilted generator)
against independent computations written out here: plain scipy expm of the tilted Liouvillian
(kron products in the given basis), the n-resolved master equation for counts, and the
energy gauge of Davies channels at large s."""
import numpy as np
import pytest
from scipy.linalg import expm

import mcthermo as mt
from mcthermo.exact import generating, tilted

rng = np.random.default_rng(21)


def hermitian(d, generator=rng):
    a = generator.normal(size=(d, d)) + 1j * generator.normal(size=(d, d))
    return (a + a.conj().T) / 2


HS = [hermitian(3) for _ in range(3)]
A1, A2 = hermitian(3), hermitian(3)


def two_bath_protocol(initial=None):
    """Three pieces of random complex non-commuting H_n, Davies channels of two baths (one
    grand-canonical with particles), a dense random full-rank rho0 by default."""
    pieces = [mt.Piece(h, mt.davies_channels(h, A1, "a", 0.4, lambda w: 0.3 * w + 0.2)
                       + mt.davies_channels(h, A2, "b", 2.0, lambda w: 0.2, mu=0.3,
                                            particles=[0, 1, 1]), tau)
              for h, tau in zip(HS, (0.3, 1.1, 0.6))]
    if initial is None:
        m = hermitian(3)
        initial = m @ m.conj().T + 0.1 * np.eye(3)
        initial /= np.trace(initial).real
    return mt.OpenSystem(pieces=pieces, baths={"a": mt.Bath(beta=0.4), "b": mt.Bath(beta=2.0, mu=0.3)},
                         initial=initial)


def reference(system, increment, s, endpoints=None):
    """ln sum_{i,j} p0(i) w(i, j) <j| prod_n expm(L_n(s) tau_n) (|i><i|) |j>: jump term k of
    L_n(s) weighted e^{-s increment(k)}, kron products in the given basis (row-major vec)."""
    d = system.dimension
    e0, v0 = np.linalg.eigh(system.pieces[0].hamiltonian)
    _, vf = np.linalg.eigh(system.pieces[-1].hamiltonian)
    p0 = np.real(np.einsum("ai,ab,bi->i", v0.conj(), system.initial, v0))

    def joint(s):
        total = np.zeros((d, d))
        for i in range(d):
            rho = np.outer(v0[:, i], v0[:, i].conj()).ravel()
            for piece in system.pieces:
                loss = sum(c.operator.conj().T @ c.operator for c in piece.channels)
                h_eff = piece.hamiltonian - 0.5j * loss
                big = -1j * (np.kron(h_eff, np.eye(d)) - np.kron(np.eye(d), h_eff.conj()))
                for c in piece.channels:
                    big = big + np.exp(-s * increment(c)) * np.kron(c.operator, c.operator.conj())
                rho = expm(big * piece.duration) @ rho
            out = rho.reshape(d, d)
            total[:, i] = p0[i] * np.real(np.einsum("aj,ab,bj->j", vf.conj(), out, vf))
        return total

    total = joint(s)
    weights = np.ones((d, d)) if endpoints is None else endpoints(p0, joint(0.0).sum(axis=1))
    return np.log((weights * total).sum())


def sigma_endpoints(s):
    """p0(i)^{-s} p_t(j)^{s}, p_t(j) = sum_i p0(i) P(j|i) from the untilted reference."""
    def weights(p0, p_final):
        return p_final[:, None] ** s * p0[None, :] ** (-s)
    return weights


def energy_endpoints(system, s):
    e0 = np.linalg.eigh(system.pieces[0].hamiltonian)[0]
    ef = np.linalg.eigh(system.pieces[-1].hamiltonian)[0]
    return lambda p0, p_final: np.exp(-s * (ef[:, None] - e0[None, :]))


S_VALUES = [-1.0, -0.4, 0.5, 1.0, 1.6]


def test_work_heat_and_counts_equal_plain_matrix_exponentials():
    system = two_bath_protocol()
    name = system.pieces[1].channels[2].name
    cases = {
        "work": (lambda c: c.energy, lambda s: energy_endpoints(system, s)),
        "heat_a": (lambda c: -c.energy if c.bath == "a" else 0.0, lambda s: None),
        "heat_b": (lambda c: -(c.energy - 0.3 * c.particles) if c.bath == "b" else 0.0,
                   lambda s: None),
        f"jumps_{name}": (lambda c: float(c.name == name), lambda s: None),
    }
    for observable, (increment, endpoints) in cases.items():
        values = system.log_generating_function(observable, S_VALUES)
        expected = [reference(system, increment, s, endpoints(s)) for s in S_VALUES]
        assert values.shape == (len(S_VALUES),)
        assert np.abs(np.exp(values - expected) - 1).max() < 1e-12, observable
    assert system.log_generating_function("work", 0.0) == pytest.approx(0.0, abs=1e-14)
    assert isinstance(system.log_generating_function("work", 0.5), float)


def test_entropy_production_equals_plain_matrix_exponentials():
    system = two_bath_protocol()
    beta = {"a": 0.4, "b": 2.0}
    mu = {"a": 0.0, "b": 0.3}
    values = system.log_generating_function("entropy_production", S_VALUES)
    expected = [reference(system, lambda c: beta[c.bath] * (c.energy - mu[c.bath] * c.particles), s,
                          sigma_endpoints(s)) for s in S_VALUES]
    assert np.abs(np.exp(values - expected) - 1).max() < 1e-12
    # detailed balance, full support: the integral fluctuation theorem, exactly
    assert abs(system.log_generating_function("entropy_production", 1.0)) < 1e-13


def test_counts_equal_the_n_resolved_master_equation():
    """P(N = m) of one channel's count by the n-resolved master equation, then sum_m P(m) e^{-s m}."""
    system = two_bath_protocol()
    name = system.pieces[0].channels[1].name
    d, width = system.dimension, 40
    e, v = np.linalg.eigh(system.pieces[0].hamiltonian)
    p0 = np.real(np.einsum("ai,ab,bi->i", v.conj(), system.initial, v))
    rho = np.zeros(width * d * d, complex)
    rho[:d * d] = ((v * p0) @ v.conj().T).ravel()
    for piece in system.pieces:
        loss = sum(c.operator.conj().T @ c.operator for c in piece.channels)
        h_eff = piece.hamiltonian - 0.5j * loss
        big = np.kron(np.eye(width), -1j * (np.kron(h_eff, np.eye(d)) - np.kron(np.eye(d), h_eff.conj())))
        for c in piece.channels:
            big += np.kron(np.eye(width, k=-int(c.name == name)), np.kron(c.operator, c.operator.conj()))
        rho = expm(big * piece.duration) @ rho
    law = np.array([np.trace(rho[m * d * d:(m + 1) * d * d].reshape(d, d)).real for m in range(width)])
    assert 1 - law.sum() < 1e-14
    values = system.log_generating_function(f"jumps_{name}", S_VALUES)
    expected = [np.log(law @ np.exp(-s * np.arange(width))) for s in S_VALUES]
    assert np.abs(np.exp(values - expected) - 1).max() < 1e-12


def test_large_s_against_the_energy_gauge():
    """Davies channels are eigenoperators ([H, L] = -omega L) and sum L^dag L commutes with H, so the
    tilted generator of the work is a similarity of the untilted one: L(s) = G^{-1} L(0) G with
    G(rho) = e^{-sH/2} rho e^{-sH/2}.  Then G_W(s) = Tr[P_2 K_2 P_1 K_1 P_0 (rho0 dephased)] with
    P_n = expm(L_n(0) tau_n) and the quench K_n(rho) = k rho k^dag, k = e^{-sH_n/2} e^{sH_{n-1}/2}:
    no large weight ever sits inside a generator.  At s = 40 (G ~ e^{300}) a plain expm of the
    tilted Liouvillian returns nan."""
    pieces = [mt.Piece(h, mt.davies_channels(h, A1, "a", 0.8, lambda w: 0.3 * w + 0.2), tau)
              for h, tau in zip(HS, (0.3, 1.1, 0.6))]
    system = mt.OpenSystem(pieces=pieces, baths={"a": mt.Bath(beta=0.8)},
                           initial=mt.gibbs_state(HS[0], 0.8))
    d = 3
    s_values = np.array([-6.0, 1.0, 8.0, 40.0])
    expected = []
    for s in s_values:
        rho = system.initial
        for n, piece in enumerate(pieces):
            if n:
                k = expm(-s * HS[n] / 2) @ expm(s * HS[n - 1] / 2)
                rho = k @ rho @ k.conj().T
            loss = sum(c.operator.conj().T @ c.operator for c in piece.channels)
            h_eff = piece.hamiltonian - 0.5j * loss
            big = -1j * (np.kron(h_eff, np.eye(d)) - np.kron(np.eye(d), h_eff.conj()))
            for c in piece.channels:
                big = big + np.kron(c.operator, c.operator.conj())
            rho = (expm(big * piece.duration) @ rho.ravel()).reshape(d, d)
        expected.append(np.log(np.trace(rho).real))
    values = system.log_generating_function("work", s_values)
    assert values[-1] > 250
    assert np.abs(values - expected).max() < 1e-12 * np.abs(values).max()


def test_unknown_observables_are_named():
    system = two_bath_protocol()
    with pytest.raises(ValueError, match="no observable 'heat_c'"):
        system.log_generating_function("heat_c", 1.0)
    counting = mt.OpenSystem(pieces=system.pieces, baths=system.baths, initial=system.initial,
                             measure_energy=False)
    with pytest.raises(ValueError, match="'work'.*measure_energy=False"):
        counting.log_generating_function("work", 1.0)
    with pytest.raises(ValueError, match="finite"):
        system.log_generating_function("work", np.nan)
