"""Exact references of open systems (tilted generator) against independent computations: the
n-resolved master equation, block derivatives vs the laws' moments, QuTiP mesolve, and the
fluctuation theorems' exact values (docs/observables.md, Open systems)."""
import numpy as np
import pytest
from scipy.linalg import expm

import mcthermo as mt
from mcthermo.exact import tilted
from mcthermo.systems.bath import Bath

rng = np.random.default_rng(3)


def hermitian(d):
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    return (a + a.conj().T) / 2


HS = [hermitian(3) for _ in range(3)]
A1, A2 = hermitian(3), hermitian(3)


def two_bath_protocol(p0=None, measure=True):
    """Three pieces, random non-commuting H_n, Davies channels of two baths (one with particles)."""
    pieces = [mt.Piece(h, mt.davies_channels(h, A1, "a", 0.4, lambda w: 0.3 * w + 0.2)
                       + mt.davies_channels(h, A2, "b", 2.0, lambda w: 0.2, mu=0.3,
                                            particles=[0, 1, 1]), tau)
              for h, tau in zip(HS, (0.3, 1.1, 0.6))]
    if p0 is None:
        rho0 = mt.gibbs_state(HS[0], 0.7)
    else:
        e, v = np.linalg.eigh(HS[0])
        rho0 = (v * p0) @ v.conj().T
    return mt.OpenSystem(pieces=pieces, baths={"a": Bath(beta=0.4), "b": Bath(beta=2.0, mu=0.3)},
                         initial=rho0, measure_energy=measure)


def driven_qubit(gamma=0.4, occupation=0.3, omega=1.0, rabi=0.8, duration=2.0, imbalance=1.0,
                 **options):
    """Resonance fluorescence: coherent drive with jump operators of the bare Hamiltonian
    (``imbalance`` multiplies the absorption rate: != 1 breaks detailed balance)."""
    sm = np.array([[0, 0], [1, 0]], dtype=complex)          # |e> = 0 -> |g> = 1
    h = 0.5 * omega * np.diag([1.0, -1.0]) + 0.5 * rabi * np.array([[0, 1], [1, 0]])
    channels = [mt.Channel("emit", np.sqrt(gamma * (1 + occupation)) * sm, omega, "bath"),
                mt.Channel("absorb", np.sqrt(gamma * occupation * imbalance) * sm.T, -omega, "bath")]
    beta = np.log(1 + 1 / occupation) / omega
    return mt.OpenSystem(hamiltonian=h, channels=channels, baths={"bath": Bath(beta=beta)},
                         initial=options.pop("initial", np.diag([0.0, 1.0])), duration=duration,
                         **options)


def n_resolved(system, steps, half_width):
    """P(m) of m = sum over jumps of steps[(piece, channel)] by the n-resolved master equation:
    rho_m' = L0 rho_m + sum_k J_k rho_{m - s_k}, one block matrix exponential per piece,
    started from the dephased rho0 (energy eigenbasis computed here, independently)."""
    d = system.dimension
    width = 2 * half_width + 1
    e, v = np.linalg.eigh(system.pieces[0].hamiltonian)
    p0 = np.real(np.einsum("ai,ab,bi->i", v.conj(), system.initial, v))
    rho = np.zeros(width * d * d, complex)
    rho[half_width * d * d:(half_width + 1) * d * d] = ((v * p0) @ v.conj().T).ravel()
    for n, piece in enumerate(system.pieces):
        ops = [c.operator for c in piece.channels]
        loss = sum(L.conj().T @ L for L in ops)
        h_eff = piece.hamiltonian - 0.5j * loss
        big = np.kron(np.eye(width), -1j * (np.kron(h_eff, np.eye(d)) - np.kron(np.eye(d), h_eff.conj())))
        for k, L in enumerate(ops):
            shift = np.eye(width, k=-steps[n][k])      # block m <- m - s
            big += np.kron(shift, np.kron(L, L.conj()))
        rho = expm(big * piece.duration) @ rho
    return np.array([np.trace(rho[m * d * d:(m + 1) * d * d].reshape(d, d)).real for m in range(width)])


def test_count_law_equals_n_resolved_master_equation():
    system = two_bath_protocol()
    name = system.pieces[0].channels[1].name
    law = tilted.count_law(system, name, 24)
    steps = [[int(c.name == name) for c in p.channels] for p in system.pieces]
    reference = n_resolved(system, steps, 24)[24:]
    bound = tilted.dft_error_bound(system, 25)
    # exact above the DFT's round-off bound, exactly zero below it
    assert np.abs(law - reference)[law > 0].max() < 1e-14 and bound < 1e-12
    assert np.all(reference[law == 0] < bound + 1e-14) and (law == 0).sum() >= 5
    assert 1 - reference.sum() < 1e-15 and law.sum() == pytest.approx(1, abs=1e-12)


def test_heat_lattice_law_equals_n_resolved_master_equation():
    h = np.diag([0.0, 1.0, 3.0])
    channels = mt.davies_channels(h, A1, "hot", 0.5, lambda w: 0.3)
    system = mt.OpenSystem(pieces=[mt.Piece(h, channels, 1.5)], baths={"hot": Bath(beta=0.5)},
                           initial=mt.gibbs_state(h, 0.2))
    unit = system.lattice_unit("hot")
    steps = [[int(round(c.energy / unit)) for c in channels]]
    law = tilted.lattice_law(system, [steps], [30]).sum(axis=(0, 1))
    reference = n_resolved(system, steps, 30)
    assert unit == 1.0 and np.abs(law - reference)[law > 0].max() < 1e-14
    assert np.all(reference[law == 0] < tilted.dft_error_bound(system, 61) + 1e-14)


def test_moments_equal_moments_of_the_exact_laws():
    system = two_bath_protocol()
    name = system.pieces[1].channels[2].name
    law = tilted.count_law(system, name, 30)
    n = np.arange(31)
    mean, variance = tilted.moments(system, lambda c: float(c.name == name))
    # the law lacks only the atoms below its round-off bound (each < bound, at n <= 30)
    slack = tilted.dft_error_bound(system, 31) * (n**2).sum()
    assert abs(mean - law @ n) < slack and slack < 1e-8
    assert abs(variance - (law @ n**2 - (law @ n) ** 2)) < 3 * slack


def test_moments_of_a_long_run_against_40_digit_raw_moments():
    """4e4 jumps a trajectory (a qubit thermalising at rate 100 for t = 1000): E[N^2] - E[N]^2
    from double-precision raw moments came out 0.5 % off (a false verdict at 1e6 trajectories).
    The moments about the mean equal the raw ones computed with 40 digits to 1e-12."""
    import mpmath
    from mcthermo.exact.tilted import jump_superoperators, liouvillian, readouts, start_states
    h = np.diag([0.5, -0.5]).astype(complex)
    flip = np.array([[0, 1], [1, 0]], complex)
    channels = mt.davies_channels(h, flip, "bath", 1.0, lambda w: 100.0)
    system = mt.OpenSystem(hamiltonian=h, channels=channels, baths={"bath": Bath(beta=1.0)},
                           initial=mt.Gibbs(1.0), duration=1000.0)
    name = system.channel_names[0]
    mean, variance = tilted.moments(system, lambda c: float(c.name == name))
    piece = system.pieces[0]
    generator = liouvillian(piece.hamiltonian, [c.operator for c in piece.channels])
    D = generator.shape[0]
    first = sum(float(c.name == name) * J for c, J in zip(piece.channels, jump_superoperators(piece)))
    big = np.zeros((3 * D, 3 * D), complex)
    for r in range(3):
        big[r * D:(r + 1) * D, r * D:(r + 1) * D] = generator
    big[:D, D:2 * D] = big[D:2 * D, 2 * D:] = first
    big[:D, 2 * D:] = first / 2                     # increments 0 or 1: a^2 / 2 = a / 2
    mpmath.mp.dps = 40
    block = mpmath.expm(mpmath.matrix((big * piece.duration).tolist()))
    p, states = start_states(system)
    readout, start = mpmath.matrix(readouts(system).tolist()), mpmath.matrix(states.T.tolist())
    g = [sum(mpmath.re((readout * block[:D, k * D:(k + 1) * D] * start)[j, i]) * p[i]
             for j in range(readout.rows) for i in range(len(p))) for k in range(3)]
    exact_mean = g[1] / g[0]
    exact_variance = 2 * g[2] / g[0] - exact_mean**2
    assert float(exact_mean) == pytest.approx(42545.906411966, rel=1e-12)
    assert abs(mean - float(exact_mean)) <= 1e-12 * float(exact_mean)
    assert abs(variance - float(exact_variance)) <= 1e-10 * float(exact_variance)


def test_moments_of_work_and_sigma_against_finite_tilts():
    """d/dlambda ln<e^{lambda X}> at 0 from the exponential averages (a smooth, independent path)."""
    system = two_bath_protocol()
    e0 = np.linalg.eigh(HS[0])[0]
    ef = np.linalg.eigh(HS[-1])[0]
    mean, variance = tilted.moments(system, lambda c: c.energy, -e0, ef)
    lam = 1e-3
    f = [tilted.log_exponential_average(system, lambda c, s=s: -s * lam * c.energy,
                                        np.exp(-s * lam * e0), np.exp(s * lam * ef)) for s in (-2, -1, 1, 2)]
    slope = (8 * (f[2] - f[1]) - (f[3] - f[0])) / (12 * lam)
    curvature = (-(f[3] + f[0]) + 16 * (f[2] + f[1])) / (12 * lam**2)
    assert slope == pytest.approx(mean, rel=1e-9) and curvature == pytest.approx(variance, rel=1e-5)


@pytest.mark.parametrize("p0", [None, np.array([0.5, 0.2, 0.3])])
def test_integral_fluctuation_theorem_is_exact_for_detailed_balance(p0):
    system = two_bath_protocol(p0)
    start, _ = tilted.start_states(system)
    p_tilde = rng.random(3)
    p_tilde /= p_tilde.sum()
    beta = {"a": 0.4, "b": 2.0}
    value = tilted.log_exponential_average(
        system, lambda c: beta[c.bath] * (c.energy - system.baths[c.bath].mu * c.particles),
        1 / start, p_tilde)
    assert abs(value) < 1e-13


def test_jarzynski_is_exact_with_one_bath():
    pieces = [mt.Piece(h, mt.davies_channels(h, A1, "a", 0.8, lambda w: 0.3 * w + 0.2), tau)
              for h, tau in zip(HS, (0.3, 1.1, 0.6))]
    system = mt.OpenSystem(pieces=pieces, baths={"a": Bath(beta=0.8)}, initial=mt.gibbs_state(HS[0], 0.8))
    e0, ef = np.linalg.eigh(HS[0])[0], np.linalg.eigh(HS[-1])[0]
    value = tilted.log_exponential_average(system, lambda c: 0.8 * c.energy, np.exp(0.8 * e0),
                                           np.exp(-0.8 * ef))
    delta_f = -(np.log(np.exp(-0.8 * ef).sum()) - np.log(np.exp(-0.8 * e0).sum())) / 0.8
    assert value == pytest.approx(-0.8 * delta_f, abs=1e-13)


def tilted_map_independent(system, beta, initial_weights):
    """sum_i w_i <j| Phi~(|i><i|) |j> with jump terms weighted e^{-beta omega}, built here from
    kron products (row-major vec) in the eigenbases computed here: shape (j,)."""
    (piece,) = system.pieces
    d = system.dimension
    loss = sum(c.operator.conj().T @ c.operator for c in piece.channels)
    h_eff = piece.hamiltonian - 0.5j * loss
    big = -1j * (np.kron(h_eff, np.eye(d)) - np.kron(np.eye(d), h_eff.conj()))
    for c in piece.channels:
        big = big + np.exp(-beta * c.energy) * np.kron(c.operator, c.operator.conj())
    e, v = np.linalg.eigh(piece.hamiltonian)
    rho = sum(w * np.outer(v[:, i], v[:, i].conj()) for i, w in enumerate(initial_weights))
    out = (expm(big * piece.duration) @ rho.ravel()).reshape(d, d)
    return np.real(np.einsum("aj,ab,bj->j", v.conj(), out, v))


def test_fluctuation_theorem_with_coherent_drive_and_bare_jump_operators():
    """Paired channels in detailed balance make the tilted map unital (sum_k e^{-beta w_k} L_k L_k^dag
    = sum_k L_k^dag L_k), so <e^{-sigma}> = 1 even with a drive and bare jump operators -- but not
    when p0 has zeros (absolute irreversibility) or the rates break detailed balance: computed."""
    system = driven_qubit()
    beta = system.baths["bath"].beta
    start, _ = tilted.start_states(system)
    value = tilted.log_exponential_average(system, lambda c: beta * c.energy, 1 / start,
                                           tilted.final_populations(system))
    assert abs(value) < 1e-13
    e, v = np.linalg.eigh(system.pieces[0].hamiltonian)
    pure = driven_qubit(initial=v[:, 0])                     # p0 = (1, 0): absolute irreversibility
    p_final = tilted.final_populations(pure)
    value = tilted.log_exponential_average(pure, lambda c: beta * c.energy,
                                           [1.0, 0.0], p_final)
    expected = np.log(p_final @ tilted_map_independent(pure, beta, [1.0, 0.0]))
    assert value == pytest.approx(expected, abs=1e-13) and value < -1e-2
    hot_rates = driven_qubit(imbalance=1.5)                  # rates out of detailed balance
    start, _ = tilted.start_states(hot_rates)
    p_final = tilted.final_populations(hot_rates)
    value = tilted.log_exponential_average(hot_rates, lambda c: beta * c.energy, 1 / start, p_final)
    expected = np.log(p_final @ tilted_map_independent(hot_rates, beta, 1 / start * start))
    assert value == pytest.approx(expected, abs=1e-13) and abs(value) > 1e-2


def test_states_match_qutip_mesolve():
    qutip = pytest.importorskip("qutip")
    system = two_bath_protocol()
    times = np.linspace(0, system.total_duration, 9)
    rho = tilted.states_at(system, times)
    e, v = np.linalg.eigh(HS[0])
    p0 = np.real(np.einsum("ai,ab,bi->i", v.conj(), system.initial, v))
    state = qutip.Qobj((v * p0) @ v.conj().T)
    t0, worst = 0.0, 0.0
    options = {"atol": 1e-12, "rtol": 1e-10, "nsteps": 10**6}
    for piece in system.pieces:
        inside = [t for t in times if t0 <= t <= t0 + piece.duration + 1e-12]
        grid = sorted({0.0, piece.duration, *(t - t0 for t in inside)})
        result = qutip.mesolve(qutip.Qobj(piece.hamiltonian), state, grid,
                               c_ops=[qutip.Qobj(c.operator) for c in piece.channels], options=options)
        for t in inside:
            k = int(np.argmin(np.abs(np.array(grid) - (t - t0))))
            worst = max(worst, np.abs(result.states[k].full() - rho[int(np.argmin(np.abs(times - t)))]).max())
        state = result.states[-1]
        t0 += piece.duration
    assert worst < 1e-8


def test_laws_have_no_mass_outside_the_exact_support():
    """One piece of Davies channels from a Fock state: the heat is E_j - E_i (energy bookkeeping),
    so only the atoms -1, 0 and 2 (from level 1 of (0, 1, 3)) exist; the raw DFT puts round-off
    there too.  Every law entry is either exactly 0 or above the round-off bound."""
    h = np.diag([0.0, 1.0, 3.0])
    channels = mt.davies_channels(h, A1.real + A1.real.T, "hot", 0.5, lambda w: 0.3)
    system = mt.OpenSystem(pieces=[mt.Piece(h, channels, 1.5)], baths={"hot": Bath(beta=0.5)},
                           initial=np.array([0.0, 1.0, 0.0]))
    steps = [[int(round(c.energy)) for c in channels]]
    law = tilted.lattice_law(system, [steps], [30])
    heat = law.sum(axis=(0, 1))                              # index m + 30, heat given = m
    assert set(np.flatnonzero(heat) - 30) == {1, 0, -2}
    assert law[[0, 2]].sum() == 0                            # start outcomes with p0 = 0
    bound = tilted.dft_error_bound(system, 61)
    assert np.all((law == 0) | (law > bound)) and heat.sum() == pytest.approx(1, abs=1e-13)
    support = tilted.reachable(system, [steps], [-30], [30])
    assert support.sum() == 3 and support[1, :, 30 + np.array([1, 0, -2])].any()
    counts = tilted.count_law(system, channels[0].name, 20)
    assert counts[0] > 0 and np.all((counts == 0) | (counts > bound))
