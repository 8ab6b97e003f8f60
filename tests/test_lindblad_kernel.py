"""The exact-waiting-time jump kernel of open systems, statistically against exact references
(fixed seeds, bounds from the sampler's own standard errors), every check shown able to fail."""
import dataclasses

import numpy as np
import pytest
from scipy import stats
from scipy.linalg import expm

import mcthermo as mt
from invariance import assert_independent_of_chunks_and_threads
from mcthermo.exact import tilted
from mcthermo.kernels import lindblad
from mcthermo.systems.bath import Bath
from mcthermo.systems.open_sampling import packed_form

H3 = np.array([[0.0, 0.4, 0.0], [0.4, 1.0, 0.3], [0.0, 0.3, 2.0]])
A = np.array([[0, 1, 0.5], [1, 0, 1], [0.5, 1, 0]], dtype=float)


def maser(rate_factor=1.0, label_shift=0.0, pieces=1, **options):
    """Three levels between a hot and a cold bath (Davies channels), optionally two pieces."""
    h = np.diag([0.0, 1.0, 3.0])
    rotation = np.linalg.qr(A + np.eye(3))[0]             # a quench to rotated eigenvectors
    hs = [h, rotation @ np.diag([0.0, 1.5, 3.0]) @ rotation.T] if pieces == 2 else [h]
    made = []
    for k, hk in enumerate(hs):
        channels = (mt.davies_channels(hk, A * np.sqrt(rate_factor), "hot", 0.3, lambda w: 0.2)
                    + mt.davies_channels(hk, np.diag([1.0, -1.0, 0.5]) + A.T * 0.3, "cold", 2.0,
                                         lambda w: 0.15 * w))
        # a shifted label is declared as energy the drive supplies (drive_work): the label check
        # passes, and the heat law it predicts is wrong for the sampled system
        channels = [mt.Channel(c.name, c.operator, c.energy + (label_shift if c.bath == "hot" else 0),
                               c.bath, drive_work=label_shift if c.bath == "hot" else 0.0)
                    for c in channels]
        made.append(mt.Piece(hk, channels, 1.2 if k == 0 else 0.8))
    base = dict(pieces=made, baths={"hot": Bath(beta=0.3), "cold": Bath(beta=2.0)},
                initial=mt.gibbs_state(h, 1.0), output_times=np.linspace(0, 1.2 if pieces == 1 else 2.0, 21),
                observables={"n": np.diag([0, 1, 2.0]), "x": A})
    base.update(options)
    return mt.OpenSystem(**base)


def run(system, count, seed=11):
    return {"forward": system.accumulate("forward", seed, 0, count)}


def chi_square_p(counts, log_p, minimum=5.0):
    """p-value of a histogram against an exact law, bins pooled (in order) to >= ``minimum``
    expected counts."""
    n = counts.sum()
    expected = n * np.exp(log_p)
    observed_pooled, expected_pooled = [], []
    o = e = 0.0
    for c, x in zip(counts, expected):
        o, e = o + c, e + x
        if e >= minimum:
            observed_pooled.append(o)
            expected_pooled.append(e)
            o = e = 0.0
    observed_pooled[-1] += o
    expected_pooled[-1] += e
    observed_pooled, expected_pooled = np.array(observed_pooled), np.array(expected_pooled)
    statistic = ((observed_pooled - expected_pooled) ** 2 / expected_pooled).sum()
    return stats.chi2.sf(statistic, len(observed_pooled) - 1)


def z_bound(m, alpha=1e-3):
    """Two-sided Bonferroni threshold for the max |z| of m z-scores."""
    return stats.norm.isf(alpha / (2 * m))


def exponential_average_z(observable, expected):
    """z-score of the sample mean of e^{-x} against ``expected``, with the exact standard error
    from the exact law (heavy tails make the sample spread unreliable)."""
    p = np.exp(observable.log_probability_exact)
    variance = p @ np.exp(-2 * observable.values) - (p @ np.exp(-observable.values)) ** 2
    mean = np.exp(-observable.values) @ observable.counts / observable.n
    return (mean - expected) / np.sqrt(variance / observable.n)


@pytest.fixture(scope="module")
def maser_run():
    system = maser(pieces=2)
    return system, system.results(run(system, 3 * 4096))


def test_waiting_time_solves_the_survival_equation():
    system = maser()
    tables = system.kernel_tables()
    rng = np.random.default_rng(5)
    piece = system.pieces[0]
    h_eff = piece.hamiltonian - 0.5j * sum(c.operator.conj().T @ c.operator for c in piece.channels)
    v, r, partial = np.empty(3, complex), np.zeros(tables.forms.shape[2]), np.empty(lindblad.LANES)
    for _ in range(20):
        psi = rng.normal(size=3) + 1j * rng.normal(size=3)
        psi /= np.linalg.norm(psi)
        u = rng.random()
        c, values, forms = tables.left[0] @ psi, tables.eigenvalues[0], tables.forms[0]
        start, end = (lindblad._survival(c, values, forms, t, v, r, partial) for t in (0.0, 50.0))
        assert abs(start - 1) < 1e-14 and end < u
        # the start of Newton's method: log-linear (slope unknown) or quadratic (exact slope)
        slope = -np.real(psi.conj() @ (1j * (h_eff - h_eff.conj().T)) @ psi)
        for slope_low in (np.nan, slope):
            tau = lindblad.waiting_time(c, values, forms, u, 0.0, start, slope_low, 50.0, end, v, r,
                                        partial)
            survival = np.linalg.norm(expm(-1j * h_eff * tau) @ psi) ** 2
            assert abs(survival - u) <= 1e-12 * u


def test_waiting_time_near_u_one_is_exact_to_round_off():
    """u within 1e-9..1e-6 of S(0) = 1: tau is tiny and Newton's last steps are round-off.  The
    Taylor-advanced iterates must not freeze S there (a QA reproducer drifted 199 ulp): S(tau) = u
    to a few ulp against a 40-digit survival, and tau to its round-off limit."""
    import mpmath
    # an overdamped atom from |e>: H = 0.1 s_x, L = sqrt(10) s-
    lower = np.array([[0, 1], [0, 0]], complex)
    h_eff = 0.1 * np.array([[0, 1], [1, 0]]) - 5j * lower.conj().T @ lower
    values, right = np.linalg.eig(h_eff)
    forms = np.array([packed_form(right.conj().T @ right),
                      packed_form(right.conj().T @ (10 * lower.conj().T @ lower) @ right)])
    psi = np.array([0, 1], complex)
    c = np.linalg.solve(right, psi)
    v, r, partial = np.empty(2, complex), np.zeros(4), np.empty(lindblad.LANES)
    start, end = (lindblad._survival(c, values, forms, t, v, r, partial) for t in (0.0, 1.0))
    mpmath.mp.dps = 40
    generator = mpmath.matrix((-1j * h_eff).tolist())

    def survival(tau):
        x = mpmath.expm(generator * mpmath.mpf(tau)) * mpmath.matrix(psi.tolist())
        return abs(x[0]) ** 2 + abs(x[1]) ** 2

    for k in (9, 90, 900, 4000):
        u = 1 - k * 1e-9
        tau = lindblad.waiting_time(c, values, forms, u, 0.0, start, np.nan, 1.0, end, v, r, partial)
        assert 0.0 < tau <= 1.0
        assert abs(float(survival(tau)) - u) <= 8 * 2.0**-53
        slope = 10.0                                # |dS/dtau| at tau ~ 0 (the excited state's loss)
        root = mpmath.findroot(lambda t: survival(t) - u, tau)
        assert abs(tau - float(root)) <= 8 * 2.0**-53 / slope


def test_first_waiting_time_law_is_the_exact_survival():
    """KS test of the first jump time from a pure start against 1 - ||e^{-i H_eff t} psi||^2."""
    h = H3
    ops = [1.2 * np.outer([1, 0, 0], [0, 1, 0]), 0.8 * np.outer([0, 1, 0], [0, 0, 1]),
           0.6 * np.outer([0, 0, 1], [1, 0, 0])]
    psi = np.array([1.0, 1.0j, 0.5]) / np.sqrt(2.25)
    system = mt.OpenSystem(hamiltonian=h, channels=[mt.Channel(f"c{k}", L, 0.0, "b") for k, L in enumerate(ops)],
                           baths={"b": Bath(beta=1.0)}, initial=psi, duration=100.0, measure_energy=False)
    tables = system.kernel_tables()
    first = np.array([lindblad.jump_record(tables, 3, 0, i)[0][0] for i in range(4000)])
    h_eff = h - 0.5j * sum(L.conj().T @ L for L in ops)
    values, vectors = np.linalg.eig(h_eff)
    coefficients = np.linalg.solve(vectors, psi)

    def cdf(t, h_eff_vectors=vectors, h_eff_values=values, c=coefficients):
        states = (h_eff_vectors[None] * (c * np.exp(-1j * np.outer(t, h_eff_values)))[:, None, :]).sum(-1)
        return 1 - (np.abs(states) ** 2).sum(-1)

    assert cdf(np.array([100.0]))[0] > 1 - 1e-12
    assert stats.kstest(first, cdf).pvalue > 0.01
    wrong_values, wrong_vectors = np.linalg.eig(h - 0.6j * sum(L.conj().T @ L for L in ops))
    wrong = np.linalg.solve(wrong_vectors, psi)
    assert stats.kstest(first, lambda t: cdf(t, wrong_vectors, wrong_values, wrong)).pvalue < 1e-6


def test_dark_state_never_jumps():
    """Lambda system driven from both ground states: (|g1> - |g2>)/sqrt 2 is dark."""
    h = 0.7 * (np.outer([1, 0, 0], [0, 1, 1]) + np.outer([0, 1, 1], [1, 0, 0]))   # |e> = 0
    channels = [mt.Channel("to_g1", np.outer([0, 1, 0], [1, 0, 0]), 1.0, "b"),
                mt.Channel("to_g2", np.outer([0, 0, 1], [1, 0, 0]), 1.0, "b")]
    dark = np.array([0, 1, -1]) / np.sqrt(2)
    system = mt.OpenSystem(pieces=[mt.Piece(h, channels, 5.0), mt.Piece(2 * h, channels, 5.0)],
                           baths={"b": Bath(beta=np.inf)}, initial=dark, measure_energy=False)
    acc = system.accumulate("forward", 1, 0, 2000)
    assert acc["count_histogram"][:, 0].tolist() == [2000, 2000]


def test_expectation_values_match_the_dephased_master_equation(maser_run):
    system, results = maser_run
    (e,) = results.directions["forward"].expectations
    # in the first piece every trajectory stays an eigenstate of the diagonal H (Davies jumps map
    # eigenstates to eigenstates): <x> = 0 exactly, with no spread
    frozen = e.stderr < 1e-12
    assert frozen[:, 1].sum() >= 12 and np.abs(e.mean - e.exact)[frozen].max() < 1e-15
    z = (e.mean - e.exact)[~frozen] / e.stderr[~frozen]
    assert e.n == 3 * 4096 and np.abs(z).max() < z_bound(z.size)
    wrong = tilted.states_at(maser(pieces=2, rate_factor=1.5), system.output_times)
    z_wrong = (e.mean[:, 0] - np.real(np.einsum("tab,ba->t", wrong, np.diag([0, 1, 2.0])))) / e.stderr[:, 0]
    assert np.abs(z_wrong).max() > z_bound(z.size)
    table = results.extra_tables["expectation"]
    assert list(table.columns) == ["observable", "time", "mean", "stderr", "exact"]
    assert len(table) == 2 * len(system.output_times)


def test_jump_count_laws_match_samples_and_a_wrong_rate_is_flagged(maser_run):
    system, results = maser_run
    direction = results.directions["forward"]
    p_values = [chi_square_p(o.counts, o.log_probability_exact) for o in direction.observables
                if o.name.startswith("jumps_")]
    assert len(p_values) == len(system.channel_names) and min(p_values) > 1e-3 / len(p_values)
    wrong = maser(pieces=2, rate_factor=1.3)
    name = max(system.channel_names,
               key=lambda n: direction.observable(f"jumps_{n}").exact_moments()[0])
    law = tilted.count_law(wrong, name, system.layout().max_count)
    observed = direction.observable(f"jumps_{name}")
    with np.errstate(divide="ignore"):
        assert chi_square_p(observed.counts, np.log(np.maximum(law, 0))) < 1e-6
    assert all(c.violations == 0 for c in direction.exact_counts)


def test_heat_and_sigma_laws_and_a_wrong_energy_label_is_flagged(maser_run):
    system, results = maser_run
    direction = results.directions["forward"]
    for name in ("heat_hot", "heat_cold", "entropy_production", "work"):
        o = direction.observable(name)
        assert o.has_law and chi_square_p(o.counts, o.log_probability_exact) > 1e-3 / 4, name
        mean, variance = o.exact_moments()
        assert abs(o.values @ o.counts / o.n - mean) / np.sqrt(variance / o.n) < 4.0
    shifted = maser(pieces=2, label_shift=0.5)
    mean, variance = tilted.moments(shifted, lambda c: -c.energy if c.bath == "hot" else 0.0)
    heat = direction.observable("heat_hot")
    assert abs(heat.values @ heat.counts / heat.n - mean) / np.sqrt(variance / heat.n) > 6
    assert direction.integral_ft == pytest.approx(0.0, abs=1e-12)
    assert abs(exponential_average_z(direction.observable("entropy_production"), 1.0)) < 4


def test_static_davies_system_does_no_work_on_any_trajectory():
    system = maser(pieces=1)
    results = system.results(run(system, 4096))
    work = results.directions["forward"].observable("work")
    assert np.abs(work.values[work.counts > 0]).max() < 1e-12
    assert results.directions["forward"].jarzynski is None     # two baths


def test_moment_only_heat_when_quanta_are_irrational():
    h = np.diag([0.0, 1.0, 1.0 + np.sqrt(2)])
    channels = mt.davies_channels(h, A, "b", 0.5, lambda w: 0.3)
    system = mt.OpenSystem(hamiltonian=h, channels=channels, baths={"b": Bath(beta=0.5)},
                           initial=mt.gibbs_state(h, 0.5), duration=2.0)
    direction = system.results(run(system, 4 * 4096)).directions["forward"]
    heat = direction.observable("heat_b")
    assert not heat.histogrammed and heat.checks == ("mean", "variance", "distribution")
    mean, variance = heat.exact_moments()
    assert abs(heat.total / heat.n - mean) / np.sqrt(variance / heat.n) < 4
    # no lattice: the integral fluctuation theorem is still stated, from the exact G_sigma(1)
    assert abs(direction.integral_ft) < 1e-12 and len(direction.observable("entropy_production").exponents)


def test_absolute_irreversibility_of_a_driven_qubit_is_seen_in_the_samples():
    """Coherent drive, bare jump operators, start in an energy eigenstate: <e^{-sigma}> < 1 exactly
    (computed), and the samples agree with the computed value, not with 1."""
    sm = np.array([[0, 0], [1, 0]], dtype=complex)
    h = 0.5 * np.diag([1.0, -1.0]) + 0.4 * np.array([[0, 1], [1, 0]])
    beta = np.log(1 + 1 / 0.3)
    channels = [mt.Channel("emit", np.sqrt(0.4 * 1.3) * sm, 1.0, "bath"),
                mt.Channel("absorb", np.sqrt(0.4 * 0.3) * sm.T, -1.0, "bath")]
    ground = np.linalg.eigh(h)[1][:, 0]
    system = mt.OpenSystem(hamiltonian=h, channels=channels, baths={"bath": Bath(beta=beta)},
                           initial=ground, duration=2.0)
    direction = system.results(run(system, 16 * 4096)).directions["forward"]
    exact = np.exp(direction.integral_ft)
    sigma = direction.observable("entropy_production")
    assert exact < 0.99 and abs(exponential_average_z(sigma, exact)) < 4
    assert abs(exponential_average_z(sigma, 1.0)) > 6


def test_bit_identical_for_any_chunking_and_thread_count():
    system = maser(pieces=2)
    assert_independent_of_chunks_and_threads(
        lambda first, count: system.accumulate("forward", 5, first, count))


def test_samples_are_the_accumulated_trajectories():
    system = maser(pieces=2)
    frame = system.samples("forward", 5, 100, 500)
    acc = system.accumulate("forward", 5, 100, 500)
    for c, name in enumerate(system.channel_names):
        assert np.array_equal(np.bincount(frame[f"jumps_{name}"], minlength=acc["count_histogram"].shape[1]),
                              acc["count_histogram"][c])
    assert frame["work"].sum() == pytest.approx(acc["floats"][0, 2, 0], rel=1e-12)
    times, names = system.jump_record(5, 100)
    assert len(times) == frame.iloc[0][[f"jumps_{n}" for n in system.channel_names]].sum()
    assert all(n in system.channel_names for n in names) and np.all(np.diff(times) >= 0)


def test_sample_end_to_end_writes_reads_and_refuses_a_changed_system(tmp_path):
    system = maser(pieces=2)
    run = mt.sample(system, trajectories=2 * 4096, seed=2, out=tmp_path / "maser")
    assert run.passed and set(run.checks["check"]) >= {"integral_ft", "expectation", "distribution"}
    assert {"expectation", "histogram", "summary", "checks"} <= set(run.tables)
    again = mt.read(tmp_path / "maser")
    assert again.spec == system
    with pytest.raises(ValueError, match="fingerprint"):
        mt.sample(maser(pieces=2, rate_factor=1.1), trajectories=2 * 4096, seed=2,
                  out=tmp_path / "maser")


def test_jarzynski_is_declared_and_passes_for_one_bath_and_a_gibbs_start(tmp_path):
    h = np.diag([0.0, 1.0, 3.0])
    rotation = np.linalg.qr(A + np.eye(3))[0]
    quenched = rotation @ np.diag([0.0, 1.5, 3.0]) @ rotation.T
    pieces = [mt.Piece(x, mt.davies_channels(x, A, "hot", 0.7, lambda w: 0.3), 1.0)
              for x in (h, quenched)]
    system = mt.OpenSystem(pieces=pieces, baths={"hot": Bath(beta=0.7)}, initial=mt.gibbs_state(h, 0.7))
    run = mt.sample(system, trajectories=4 * 4096, seed=3)
    row = run.checks.set_index("check").loc["jarzynski"]
    delta_f = -np.log(np.exp(-0.7 * np.array([0.0, 1.5, 3.0])).sum()
                      / np.exp(-0.7 * np.array([0.0, 1.0, 3.0])).sum()) / 0.7
    assert bool(row["passed"]) and run.passed
    declared = system.results({"forward": system.accumulate("forward", 3, 0, 4096)})
    assert declared.directions["forward"].jarzynski == pytest.approx((0.7, delta_f), rel=1e-12)


def random_davies(d, seed, rate=3.0):
    """Random H, the Davies channels of one random coupling (non-degenerate Bohr frequencies):
    H_eff is normal, every piece draws its waiting times from the mixture of exponentials
    (``exact=False``: no exponential sums, whose exponents cost more than the test)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    h = (a + a.conj().T) / 2
    coupling = rng.normal(size=(d, d))
    channels = mt.davies_channels(h, (coupling + coupling.T) / np.sqrt(d), "bath", 1.0,
                                  lambda w: rate * w / (1 + w))
    return mt.OpenSystem(hamiltonian=h, channels=channels, baths={"bath": Bath(beta=1.0)},
                         initial=mt.gibbs_state(h, 0.5), duration=3.0, exact=False,
                         output_times=np.linspace(0, 3.0, 4), observables={"h": h})


def count_and_heat_z(system, acc, n):
    """z-scores of the mean total jump count, of the mean jump count of the (at most 4) channels
    with the largest operators and of the mean heat against the exact moments (tilted
    generator), with the exact standard errors."""
    histogram = acc["count_histogram"]
    (piece,) = system.pieces
    largest = sorted(piece.channels, key=lambda ch: -np.linalg.norm(ch.operator))[:4]
    observables = [(lambda ch: 1.0, histogram.sum(axis=0) @ np.arange(histogram.shape[1]))]
    observables += [(lambda ch, name=c.name: float(ch.name == name),
                     histogram[system.channel_names.index(c.name)] @ np.arange(histogram.shape[1]))
                    for c in largest]
    observables.append((lambda ch: -ch.energy, acc["floats"][:, 0, 0].sum()))
    z = []
    for weight, total in observables:
        mean, variance = tilted.moments(system, weight)
        z.append((total / n - mean) / np.sqrt(variance / n))
    return np.array(z)


@pytest.mark.parametrize("d, seed", [(2, 4), (4, 4), (8, 8)])
def test_mixture_waiting_times_on_random_davies_systems(d, seed):
    """The mixture-of-exponentials path is taken and its jump-count means and heat mean agree with
    the exact ones; the same samples are flagged against rates 30 % off."""
    system = random_davies(d, seed)
    assert system.kernel_tables().mixture.all()
    n = 20_000
    acc = system.accumulate("forward", 2, 0, n)
    z = count_and_heat_z(system, acc, n)
    assert np.abs(z).max() <= 5, z
    wrong = mt.OpenSystem(pieces=[mt.Piece(p.hamiltonian, [dataclasses.replace(c, operator=1.14 * c.operator)
                                                           for c in p.channels], p.duration)
                                  for p in system.pieces], baths=system.baths, initial=system.initial)
    assert np.abs(count_and_heat_z(wrong, acc, n)).max() > 5


def test_mixture_on_a_piece_that_is_not_one_is_flagged():
    """A wrong sampler: the driven qubit's H_eff is not normal; forcing the mixture draw (from the
    diagonal of its Gram matrix) gives a wrong waiting-time law, and the check sees it."""
    sx = np.array([[0, 1], [1, 0]], complex)
    down = np.array([[0, 0], [1, 0]], complex)
    system = mt.OpenSystem(hamiltonian=np.diag([0.5, -0.5]) + 0.6 * sx,
                           channels=[mt.Channel("emit", 0.8 * down, 1.0, "b"),
                                     mt.Channel("absorb", 0.4 * down.T, -1.0, "b")],
                           baths={"b": Bath(beta=1.0)}, initial=np.diag([0.0, 1.0]), duration=3.0,
                           measure_energy=False)
    tables = system.kernel_tables()
    assert not tables.mixture.any()
    n = 20_000
    good = lindblad.accumulate(tables, 2, 0, 0, n, 4096, 1)
    forced = lindblad.accumulate(tables._replace(mixture=np.ones(1, bool)), 2, 0, 0, n, 4096, 1)
    for acc, flagged in ((good, False), (forced, True)):
        z = count_and_heat_z(system, {"count_histogram": acc[4], "floats": acc[1]}, n)
        assert (np.abs(z).max() > 5) == flagged, z


def test_a_split_mixture_piece_draws_the_trajectories_of_the_whole_one():
    """The tilted engine's plain ensemble is the system with every piece split in four: on
    mixture pieces the waiting time drawn goes on across the split, so the records agree (times
    to round-off); a fresh draw at each split would be another (equally exact) sample."""
    from mcthermo.systems import open_tilting
    system = maser(pieces=2)
    split = open_tilting.bare(system, open_tilting.split(system.pieces))
    whole, parts = system.kernel_tables(), split.kernel_tables()
    assert whole.mixture.all() and parts.mixture.all() and len(parts.mixture) == 8
    a, b = lindblad.samples(whole, 3, 0, 0, 2000), lindblad.samples(parts, 3, 0, 0, 2000)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.abs(a[3] - b[3]).max() < 1e-12
    for index in (1, 7, 1234):
        times_a, slots_a = lindblad.jump_record(whole, 3, 0, index)
        times_b, slots_b = lindblad.jump_record(parts, 3, 0, index)
        assert np.array_equal(slots_a, slots_b) and np.allclose(times_a, times_b, rtol=1e-13, atol=1e-13)
