"""Exact generating functions G_X(s) = <e^{-s X}> of open systems (log space, tilted generator)
against independent computations written out here: plain scipy expm of the tilted Liouvillian
(kron products in the given basis), the n-resolved master equation for counts, and the
energy gauge of Davies channels at large s."""
from dataclasses import replace

import numpy as np
import pytest
from scipy.linalg import expm

import mcthermo as mt
from mcthermo.exact import generating, tilted
from mcthermo.systems import open_results

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


def random_ladder(generator):
    """A Davies ladder: d = 3..5 levels at random integer energies, a random real coupling, beta in
    [2, 8], p0 with entries down to 1e-12 (sigma reaches -20 .. -30 where e^{-sigma} weighs e^{25})."""
    d = int(generator.integers(3, 6))
    h = np.diag(np.cumsum(np.r_[0, generator.integers(1, 4, size=d - 1)]).astype(float))
    coupling = generator.normal(size=(d, d))
    beta = float(generator.uniform(2, 8))
    p0 = np.maximum(generator.dirichlet(np.full(d, 0.3)), 1e-12)
    return mt.OpenSystem(hamiltonian=h, channels=mt.davies_channels(h, coupling + coupling.T, "bath", beta,
                                                                     lambda w: 0.2 * w),
                         baths={"bath": mt.Bath(beta=beta)}, initial=np.diag(p0 / p0.sum()),
                         duration=float(generator.uniform(0.5, 3)))


def test_exact_variance_of_exponentials_on_30_random_ladders():
    """Relative variance of e^{-sigma}, G(2)/G(1)^2 - 1, against plain expm of the tilted Liouvillian
    to 1e-9 relative (values from 50 to 1e20; the DFT law of the same systems, whose atoms below
    1e-15 are round-off, gives e.g. 3.6e9 where the truth is 5.9e10)."""
    generator = np.random.default_rng(5)
    worst, largest, worst_moments = 0.0, 0.0, 0.0
    for _ in range(30):
        system = random_ladder(generator)
        beta = system.baths["bath"].beta
        g1, g2 = system.log_generating_function("entropy_production", [1.0, 2.0])
        r1, r2 = (reference(system, lambda c: beta * c.energy, s, sigma_endpoints(s)) for s in (1.0, 2.0))
        assert abs(g1) < 1e-13                          # full support, detailed balance
        variance, expected = np.expm1(g2 - 2 * g1), np.expm1(r2 - 2 * r1)
        worst = max(worst, abs(variance / expected - 1))
        largest = max(largest, expected)
        # one Davies piece: the heat is E_j - E_i, so (i, j) carry sigma and Q; their joint law
        # from a plain expm of the Liouvillian gives the exact mean and variance
        d = system.dimension
        e = np.diag(system.pieces[0].hamiltonian).real
        p0 = np.diag(system.initial).real
        (piece,) = system.pieces
        loss = sum(c.operator.conj().T @ c.operator for c in piece.channels)
        h_eff = piece.hamiltonian - 0.5j * loss
        big = -1j * (np.kron(h_eff, np.eye(d)) - np.kron(np.eye(d), h_eff.conj()))
        big = big + sum(np.kron(c.operator, c.operator.conj()) for c in piece.channels)
        propagator = expm(big * piece.duration)
        joint = np.array([p0[i] * np.real(np.diag((propagator @ np.outer(np.eye(d)[i], np.eye(d)[i]).ravel())
                                                  .reshape(d, d))) for i in range(d)])   # [i, j]
        p_final = joint.sum(axis=0)
        sigma = np.log(p0)[:, None] - np.log(p_final)[None, :] + beta * (e[:, None] - e[None, :])
        heat = e[None, :] - e[:, None]
        for name, values in (("entropy_production", sigma), ("heat_bath", heat)):
            mean, var = (joint * values).sum(), (joint * values**2).sum() - (joint * values).sum() ** 2
            got = system.exact_moments(name)
            worst_moments = max(worst_moments, abs(got[0] - mean) / max(abs(mean), 1e-300),
                                abs(got[1] / var - 1))
    assert worst < 1e-9 and largest > 1e12 and worst_moments < 1e-9


def low_temperature_protocol(initial, beta=400.0):
    """Three pieces of rotated complex Hamiltonians with gaps of 0.7 .. 1.8 at beta = 400: Gibbs
    populations down to 1e-317, absorption rates down to e^{-832} (operators e^{-416} A)."""
    from scipy.stats import unitary_group
    energies = np.array([0.0, 122 * np.log(10) / 400, 226 * np.log(10) / 400])
    hs = []
    for seed in (4, 5, 6):
        u = unitary_group.rvs(3, random_state=seed)
        h = u @ np.diag(energies * (1 + 0.1 * seed)) @ u.conj().T
        hs.append((h + h.conj().T) / 2)
    pieces = [mt.Piece(h, mt.davies_channels(h, np.ones((3, 3)) - np.eye(3), "cold", beta, lambda w: 0.5), 1.0)
              for h in hs]
    if isinstance(initial, str) and initial == "dense":
        initial = mt.gibbs_state(hs[0], beta)
    return mt.OpenSystem(pieces=pieces, baths={"cold": mt.Bath(beta=beta)}, initial=initial)


def test_gibbs_start_is_exact_in_log_space_at_beta_400():
    """A dense Gibbs matrix at beta = 400 in a rotated basis reads back populations (1, -2.8e-17,
    -6.2e-17): clipped with a warning, p0 loses its support and the exact <e^{-sigma}> is 0.34.
    Declared as mt.Gibbs(400) (or the bath's name) p0 = e^{-beta E}/Z stays exact, in the sampler's
    tables too, and the fluctuation theorems hold to 1e-13."""
    with pytest.warns(UserWarning, match="negative by round-off"):
        dense = low_temperature_protocol("dense")
    assert dense.log_generating_function("entropy_production", 1.0) < np.log(0.4)
    for initial in (mt.Gibbs(400.0), mt.Gibbs(bath="cold"), "cold"):
        system = low_temperature_protocol(initial)
        e0 = np.linalg.eigh(system.pieces[0].hamiltonian)[0]
        log_p0 = -400 * e0 - np.log(np.exp(-400 * e0).sum())
        assert np.allclose(tilted.log_start(system)[0], log_p0, rtol=1e-12, atol=1e-12)
        assert np.exp(log_p0[1]) == pytest.approx(1.58e-171, rel=1e-2)
        tables = system.kernel_tables()
        assert np.allclose(tables.log_initial, log_p0, rtol=1e-12, atol=1e-12)
        assert abs(system.log_generating_function("entropy_production", 1.0)) < 1e-13
        ef = np.linalg.eigh(system.pieces[-1].hamiltonian)[0]
        delta_f = -(np.log(np.exp(-400 * ef).sum()) - np.log(np.exp(-400 * e0).sum())) / 400
        assert abs(system.log_generating_function("work", 400.0) + 400 * delta_f) < 1e-12
        assert mt.OpenSystem.from_parameters(system.parameters()) == system
        assert open_results.gibbs_start(system, 400.0) and not open_results.gibbs_start(system, 399.0)
        assert open_results.free_energy_change(system, 400.0) == pytest.approx(delta_f, rel=1e-13)


def test_gibbs_declarations_are_validated():
    with pytest.raises(ValueError, match="exactly one of beta or bath"):
        mt.Gibbs()
    with pytest.raises(ValueError, match="beta must be > 0"):
        mt.Gibbs(-1.0)
    h = np.diag([0.0, 1.0])
    channels = mt.davies_channels(h, np.array([[0, 1], [1, 0.0]]), "lead", 1.0, lambda w: 0.2)
    with pytest.raises(ValueError, match="'hot' is not a bath"):
        mt.OpenSystem(hamiltonian=h, channels=channels, baths={"lead": mt.Bath(beta=1.0)},
                      initial="hot", duration=1.0)
    with pytest.raises(ValueError, match="mu != 0"):
        mt.OpenSystem(hamiltonian=h, channels=channels, baths={"lead": mt.Bath(beta=1.0, mu=0.2)},
                      initial=mt.Gibbs(bath="lead"), duration=1.0)
    ground = mt.OpenSystem(hamiltonian=h, channels=channels, baths={"lead": mt.Bath(beta=1.0)},
                           initial=mt.Gibbs(np.inf), duration=1.0)
    assert np.exp(tilted.log_start(ground)[0]).tolist() == [1.0, 0.0]
    assert mt.OpenSystem.from_parameters(ground.parameters()) == ground


def one_bath_protocol(beta=0.8):
    """Three pieces of random complex non-commuting H_n, Davies channels to one bath, Gibbs start."""
    pieces = [mt.Piece(h, mt.davies_channels(h, A1, "a", beta,
                                             lambda w: 0.3 * w + 0.2), tau)
              for h, tau in zip(HS, (0.3, 1.1, 0.6))]
    return mt.OpenSystem(pieces=pieces, baths={"a": mt.Bath(beta=beta)}, initial=mt.Gibbs(bath="a"))


def test_crooks_on_the_exact_generating_functions():
    """G_R(s) = e^{beta dF} G_F(beta - s) for the reverse protocol (pieces reversed, H_n -> H_n^*,
    L_k -> L_k^*, Gibbs start of the last Hamiltonian); conjugating H alone breaks it."""
    system = one_bath_protocol()
    beta = 0.8
    e0 = np.linalg.eigh(HS[0])[0]
    ef = np.linalg.eigh(HS[-1])[0]
    delta_f = -(np.log(np.exp(-beta * ef).sum()) - np.log(np.exp(-beta * e0).sum())) / beta
    s = np.array([-0.7, 0.0, 0.3, 0.8, 1.5])
    forward = system.log_generating_function("work", beta - s)
    reverse = system.log_generating_function("work", s, direction="reverse")
    assert np.abs(reverse - (beta * delta_f + forward)).max() < 1e-12
    assert abs(system.log_generating_function("work", beta) + beta * delta_f) < 1e-13
    # H conjugated, L kept: not a time reversal (complex Hamiltonians tell them apart)
    wrong = mt.OpenSystem(pieces=[mt.Piece(p.hamiltonian.conj(), p.channels, p.duration)
                                  for p in reversed(system.pieces)],
                          baths=system.baths, initial=mt.Gibbs(beta))
    deviation = np.abs(wrong.log_generating_function("work", s) - (beta * delta_f + forward)).max()
    assert deviation > 1e-2
    reversed_system = system.protocol("reverse")
    assert [p.duration for p in reversed_system.pieces] == [0.6, 1.1, 0.3]
    assert np.array_equal(reversed_system.pieces[0].hamiltonian, system.pieces[-1].hamiltonian.conj())
    assert system.directions(True) == ["forward", "reverse"]


def lattice_protocol(beta=0.8):
    """Three pieces of rotated complex Hamiltonians with spectrum (0, 1, 2): the heat and the work
    sit on a lattice (histograms in both directions)."""
    from scipy.stats import unitary_group
    hs = []
    for seed in (1, 2, 3):
        u = unitary_group.rvs(3, random_state=seed)
        h = u @ np.diag([0.0, 1.0, 2.0]) @ u.conj().T
        hs.append((h + h.conj().T) / 2)
    pieces = [mt.Piece(h, mt.davies_channels(h, A1, "a", beta, lambda w: 0.3), 0.7) for h in hs]
    return mt.OpenSystem(pieces=pieces, baths={"a": mt.Bath(beta=beta)}, initial=mt.Gibbs(bath="a"))


def test_reverse_sampling_passes_crooks_and_bar_and_a_wrong_reversal_is_flagged():
    """reverse=True samples the reversed protocol (its own RNG stream); bar/crooks rows pass, and
    pass against the declared (beta, dF).  Replacing the reversal by 'H conjugated, L kept' (the
    samples of a different protocol) is flagged."""
    system = lattice_protocol()
    run = mt.sample(system, trajectories=20_000, seed=3, reverse=True)
    rows = run.checks.set_index(["check", "direction"])
    for check in [("bar", "both"), ("crooks", "both"), ("jarzynski", "reverse"), ("integral_ft", "reverse")]:
        assert rows.loc[check, "verdict"] == "passed", check
    e0 = np.linalg.eigvalsh(system.pieces[0].hamiltonian)
    ef = np.linalg.eigvalsh(system.pieces[-1].hamiltonian)
    assert open_results.free_energy_change(system, 0.8) == pytest.approx(
        -(np.log(np.exp(-0.8 * ef).sum()) - np.log(np.exp(-0.8 * e0).sum())) / 0.8, abs=1e-14)
    wrong = lattice_protocol()
    wrong.__dict__.setdefault("_derived", {})["reverse"] = mt.OpenSystem(
        pieces=[mt.Piece(p.hamiltonian.conj(), p.channels, p.duration) for p in reversed(wrong.pieces)],
        baths=wrong.baths, initial=mt.Gibbs(0.8))
    checks = mt.sample(wrong, trajectories=20_000, seed=3, reverse=True).checks
    flagged = checks[checks.check.isin(["bar", "crooks", "crooks_linearity"])]
    assert (flagged.verdict == "failed").any()


def test_bar_crooks_say_why_they_do_not_apply():
    system = one_bath_protocol()                           # off the lattice: no work histograms
    results = system.results({d: system.accumulate(d, 1, 0, 256) for d in ("forward", "reverse")})
    assert results.bar_crooks[0] == 0.8                    # the work's exact G(s) stands in
    inexact = replace(one_bath_protocol(), exact=False)    # ... and without it nothing does
    results = inexact.results({d: inexact.accumulate(d, 1, 0, 256) for d in ("forward", "reverse")})
    assert "work histograms" in results.bar_crooks
    two_baths = two_bath_protocol()
    with pytest.raises(ValueError, match="several baths declare its temperature"):
        two_baths.directions(True)
    declared = mt.OpenSystem(pieces=two_baths.pieces, baths=two_baths.baths, initial=mt.Gibbs(0.4))
    assert declared.directions(True) == ["forward", "reverse"]
    assert "one bath" in open_results.bar_crooks_declaration(declared, {})


def test_diagonal_gauge_of_out_of_range_generators(monkeypatch):
    """At beta = 400, <e^{-2 sigma}> needs absorption rates e^{-728} weighted e^{+1456}: entries
    beyond float range, brought back by a diagonal power-of-two gauge (log-domain Osborne
    balancing).  The gauged path equals the plain one where both work (gauge forced by a low
    MAX_LOG_ENTRY), and G(2) = e^{2333} comes out finite, convex in s, no warning."""
    system = low_temperature_protocol(mt.Gibbs(400.0))
    s = np.array([0.5, 1.0, 1.2, 1.35])
    plain = system.log_generating_function("entropy_production", s)
    monkeypatch.setattr(generating, "MAX_LOG_ENTRY", 40.0)
    gauged = low_temperature_protocol(mt.Gibbs(400.0)).log_generating_function("entropy_production", s)
    assert np.abs(gauged - plain).max() < 1e-12 * np.abs(plain).max()
    monkeypatch.undo()
    values = system.log_generating_function("entropy_production", [1.0, 1.5, 2.0, 2.5])
    assert abs(values[0]) < 1e-12 and values[2] > 2000 and np.all(np.diff(values, 2) >= 0)
