"""Every check passes on the correct sampler and fails on a deliberately wrong one; verdicts at
small counts, diagnostics and inconclusive rows."""
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import binom

from mcthermo import LandauZener, Staircase
from mcthermo.calibration import checks_of
from mcthermo.checks import (Z_THRESHOLD, bar_check, crooks_checks, distribution_check, exact_count_check,
                             expectation_check, integral_ft_check, mean_check, not_applicable,
                             second_law_check, variance_check)
from mcthermo.model import STREAMS
from mcthermo.systems.two_state_chain import TwoStateChain
from mcthermo.results import ExactCount, Expectation, Observable

TRAJECTORIES = 1_000_000


def _shifted(chain: TwoStateChain, factor: float) -> TwoStateChain:
    """The same protocol with every thermal occupation p_j multiplied by ``factor``."""
    return TwoStateChain(chain.initial_occupation * factor, chain.keep, chain.occupation * factor,
                         chain.work_weights, chain.work_values)


def _counts(spec, direction, seed, factor=1.0, trajectories=TRAJECTORIES):
    chain = _shifted(spec.chain(direction), factor)
    return chain.counts(seed, STREAMS[direction], 0, trajectories, blocks=16)


def _checks(spec, forward_factor=1.0, reverse_factor=1.0, seed=11, trajectories=TRAJECTORIES, shift=0.0):
    counts = {"forward": _counts(spec, "forward", seed, forward_factor, trajectories),
              "reverse": _counts(spec, "reverse", seed, reverse_factor, trajectories)}
    return checks_of(spec, counts, shift).set_index(["check", "direction", "observable"])


@pytest.fixture(scope="module")
def correct(request):
    return _checks(Staircase(steps=20))


def test_correct_sampler_passes_every_check(correct):
    assert set(correct.index.get_level_values("check")) == {
        "mean", "variance", "distribution", "jarzynski", "bar", "crooks", "crooks_linearity"}
    assert correct["passed"].all(), correct[~correct["passed"]]
    assert (correct["verdict"] == "passed").all()
    assert (correct["z"].abs() <= Z_THRESHOLD).all()


def test_sampler_with_thermal_occupations_shifted_by_one_percent_is_flagged(correct):
    wrong = _checks(Staircase(steps=20), forward_factor=1.01)
    for check in [("mean", "forward", "work"), ("distribution", "forward", "work"),
                  ("jarzynski", "forward", "work"), ("crooks", "both", "work"),
                  ("crooks_linearity", "both", "work")]:
        assert not wrong.loc[check, "passed"], check
    # the untouched reverse direction still passes its own checks
    assert wrong.loc[("mean", "reverse", "work"), "passed"]


def test_broken_reverse_protocol_is_flagged_by_crooks():
    wrong = _checks(Staircase(steps=20), reverse_factor=0.98)
    assert not wrong.loc[("bar", "both", "work"), "passed"]
    assert not wrong.loc[("crooks", "both", "work"), "passed"]
    assert not wrong.loc[("crooks_linearity", "both", "work"), "passed"]
    assert wrong.loc[("jarzynski", "forward", "work"), "passed"]


def test_wrong_free_energy_is_flagged_by_jarzynski_and_crooks():
    wrong = _checks(Staircase(steps=20), shift=0.001)  # 0.85 % off
    for check in [("jarzynski", "forward", "work"), ("jarzynski", "reverse", "work"),
                  ("bar", "both", "work"), ("crooks", "both", "work"), ("crooks_linearity", "both", "work")]:
        assert not wrong.loc[check, "passed"], check
    assert wrong.loc[("mean", "forward", "work"), "passed"]


def test_variance_check_flags_a_wrong_variance(correct):
    row = correct.loc[("variance", "forward", "work")]
    rng = np.random.default_rng(1)
    values = rng.normal(0.0, 1.0, 200_000)
    distinct, counts = np.unique(values, return_counts=True)
    assert variance_check("forward", Observable("x", distinct, counts, variance_exact=1.0, mean_exact=0.0))["passed"]
    wrong = variance_check("forward", Observable("x", distinct, counts, variance_exact=1.03, mean_exact=0.0))
    assert wrong["verdict"] == "failed" and "|z|" in wrong["reason"]
    assert abs(row["z"]) <= Z_THRESHOLD


def test_distribution_check_flags_mass_on_an_impossible_value():
    law = np.array([np.log(0.5), np.log(0.5), -np.inf])
    row = distribution_check("forward", Observable("x", [0, 1, 2], [10, 10, 1], law))
    assert not row["passed"] and row["p_value"] == 0.0
    assert distribution_check("forward", Observable("x", [0, 1, 2], [5030, 4970, 0], law))["passed"]


# --- small counts: exact variance and exact tails (no false alarms, still power) ------------------
def test_staircase_at_beta_20_has_no_false_alarm_at_1000_trajectories():
    """The issue's case: `--beta 20 --trajectories 1000` failed in 20 of 20 seeds (sample variance
    0, normal tails at a few counts).  Every seed now has no failed verdict."""
    spec = Staircase(beta=20.0)
    for seed in range(20):
        table = _checks(spec, seed=seed, trajectories=1000)
        assert (table["verdict"] != "failed").all(), (seed, table.loc[table.verdict == "failed", "reason"])


def _bernoulli(k, n, p):
    return Observable("x", [0.0, 1.0], [n - k, k], np.log([1.0 - p, p]))


@pytest.mark.parametrize("check", [mean_check, distribution_check])
def test_small_count_tests_are_valid_exactly(check):
    """Rare events (n p = 1): the exact false-alarm rate sum_k P(k) [p-value(k) < alpha] of the
    mean (Chernoff) and distribution (exact binomial) checks is at most alpha, by enumeration of k."""
    n, p = 1000, 0.001
    k = np.arange(40)
    p_values = np.array([check("forward", _bernoulli(int(j), n, p))["p_value"] for j in k])
    for alpha in (1e-3, 1e-2, 0.05, 0.2):
        assert np.sum(binom.pmf(k, n, p)[p_values < alpha]) <= alpha
    # the check at z = 5 fails where a correct sampler has less than 2.9e-7 of its mass
    assert check("forward", _bernoulli(1, n, p))["verdict"] == "passed"
    assert check("forward", _bernoulli(3, n, p))["verdict"] == "passed"


@pytest.mark.parametrize("check", [mean_check, distribution_check])
def test_small_count_tests_flag_a_twenty_fold_rate(check):
    rng = np.random.default_rng(8)
    for k in rng.binomial(1000, 0.02, 20):          # a sampler with p = 0.02 instead of 0.001
        assert check("forward", _bernoulli(int(k), 1000, 0.001))["verdict"] == "failed"


def test_an_observable_that_cannot_vary_is_not_checked_unless_a_sample_differs():
    law = np.array([0.0, -np.inf])
    same = mean_check("forward", Observable("x", [2.0, 3.0], [100, 0], law))
    assert same["verdict"] == "inconclusive" and same["reason"].startswith("not applicable: ")
    differs = mean_check("forward", Observable("x", [2.0, 3.0], [99, 1], law))
    assert differs["verdict"] == "failed" and "1 of 100" in differs["reason"]
    assert variance_check("forward", Observable("x", [2.0, 3.0], [100, 0], law))["verdict"] == "inconclusive"
    assert mean_check("forward", Observable("x", n=10, total=0.0, total_squares=0.0, mean_exact=0.0,
                                            variance_exact=0.0))["verdict"] == "inconclusive"


def test_rare_jump_counts_use_the_least_integer_variance():
    """The issue's qubit case: 1 jump in 1000 trajectories against 6.1 expected gave z = -5.11 with
    the sample variance; the integer floor f (1 - f) gives z = -2.07."""
    row = mean_check("forward", Observable("jumps", n=1000, total=1.0, total_squares=1.0, mean_exact=0.0061))
    assert row["verdict"] == "passed" and row["z"] == pytest.approx(-0.0051 / np.sqrt(0.0061 * 0.9939 / 1000))
    none = mean_check("forward", Observable("jumps", n=1000, total=0.0, total_squares=0.0, mean_exact=0.0061))
    assert none["verdict"] == "passed"
    assert mean_check("forward", Observable("jumps", n=1000, total=40.0, total_squares=40.0,
                                            mean_exact=0.0061))["verdict"] == "failed"
    # a continuous observable without spread and without exact variance cannot be judged
    flat = mean_check("forward", Observable("x", n=100, total=50.0, total_squares=25.0, mean_exact=0.4))
    assert flat["verdict"] == "inconclusive"


# --- exponential averages and BAR: diagnostics and inconclusive verdicts --------------------------
def test_exponential_averages_without_power_are_inconclusive_not_passed():
    """An integral FT on a law whose <e^{-sigma}> rests on an atom of probability e^{-30}: the
    sample never sees it, the exact null stderr is e^{15}-sized, the verdict is inconclusive."""
    sigma = np.array([0.0, 1.0, -29.0])
    log_p = np.array([np.log(0.5), np.log(0.5), -30.0])
    log_average = float(np.log(np.dot(np.exp(log_p), np.exp(-sigma))))
    row = integral_ft_check("forward", Observable("entropy_production", sigma, [5000, 5000, 0], log_p),
                            log_average)
    assert row["verdict"] == "inconclusive" and row["expected"] == pytest.approx(-log_average)
    assert row["trajectories_needed"] > 1e14 and row["effective_sample_size"] > 1000
    assert not row["passed"]


def test_integral_ft_is_judged_against_the_declared_log_average_not_zero():
    sigma = np.array([-1.0, 1.0])
    law = np.log([0.5, 0.5])
    obs = Observable("entropy_production", sigma, [50_000, 50_000], law)
    exact = obs.log_exponential_average(1.0)                  # ln cosh 1 != 0: not a valid IFT law
    assert integral_ft_check("forward", obs, exact)["verdict"] == "passed"
    assert integral_ft_check("forward", obs, 0.0)["verdict"] == "failed"


def test_bar_without_overlap_and_crooks_without_counts_give_inconclusive_rows():
    forward = Observable("work", [0.0, 1.0], [500, 500])
    reverse = Observable("work", [40.0, 41.0], [500, 500])
    bar = bar_check(forward, reverse, 5.0, 0.5)
    assert bar["verdict"] == "inconclusive" and "overlap" in bar["reason"]
    rows = crooks_checks(forward, reverse, 5.0, 0.5)
    assert [r["check"] for r in rows] == ["crooks", "crooks_linearity"]
    assert all(r["verdict"] == "inconclusive" and r["reason"] for r in rows)


def test_goodness_of_fit_rows_name_their_statistic():
    rows = _checks(Staircase(steps=20), seed=3, trajectories=100_000)
    for check in ("distribution", "crooks_linearity"):
        row = rows.xs(check, level="check").iloc[0]
        assert np.isnan(row["estimate"]) and np.isnan(row["expected"])
        assert row["statistic"] > 0 and row["dof"] >= 1 and 0 < row["p_value"] <= 1
    bar = rows.loc[("bar", "both", "work")]
    assert 0 < bar["overlap"] <= 1 and bar["effective_sample_size"] > 1000
    assert abs(bar["bias"]) < bar["stderr"] and bar["trajectories_needed"] > 0


# --- expectation values, exact identities, second law, not applicable -----------------------------
def _expectation(mean, stderr, exact=0.0):
    times = np.arange(201.0)
    shape = (201, 3)
    return Expectation("bloch", "bloch_vector", times, np.broadcast_to(mean, shape).copy(),
                       np.broadcast_to(stderr, shape).copy(), np.full(shape, exact), ("x", "y", "z"), 100)


def test_expectation_check_takes_max_z_at_the_bonferroni_threshold():
    mean = np.zeros((201, 3))
    mean[50, 1] = 0.055
    row = expectation_check(_expectation(mean, 0.01))
    assert row["threshold"] == pytest.approx(6.1, abs=0.05) and row["z_scores"] == 603
    assert row["verdict"] == "passed" and row["time"] == 50.0 and row["component"] == "y"
    mean[50, 1] = 0.07
    assert expectation_check(_expectation(mean, 0.01))["verdict"] == "failed"
    # no sampled spread but a difference (100 trajectories all alike): inconclusive, never inf
    still = expectation_check(_expectation(0.3, 0.0, exact=0.31))
    assert still["verdict"] == "inconclusive" and np.isfinite(still["estimate"])


def test_exact_counts_second_law_and_not_applicable_rows():
    assert exact_count_check(ExactCount("first_law", "energy", 0, 1000))["verdict"] == "passed"
    broken = exact_count_check(ExactCount("first_law", "energy", 3, 1000))
    assert broken["verdict"] == "failed" and "3 of 1000" in broken["reason"]
    times = np.linspace(0.0, 200.0, 5)
    assert second_law_check("forward", "entropy_production_entropy", [0, 0.1, 0.2, 0.3, 0.4], times)["passed"]
    negative = second_law_check("forward", "entropy_production_conventional", [0, 0.1, -1, -3.17, -2], times)
    assert negative["verdict"] == "failed" and negative["estimate"] == -3.17 and negative["time"] == 150.0
    row = not_applicable("integral_ft", "forward", "entropy_production", "no exact law")
    assert row["verdict"] == "inconclusive" and row["reason"] == "not applicable: no exact law"
    assert np.isnan(row["estimate"]) and not row["passed"]


# --- the Landau-Zener cases: exact answers in log space ------------------------------------
def _lz_checks(spec, trajectories, seed, shift=0.0):
    counts = {d: spec.chain(d).counts(seed, STREAMS[d], 0, trajectories, 16) for d in ("forward", "reverse")}
    results = spec.results({d: {"counts": c} for d, c in counts.items()})
    return results, checks_of(spec, counts, shift).set_index(["check", "direction", "observable"])


def test_landau_zener_at_beta_1000_exact_answers_stay_right_and_nothing_false_alarms():
    """`sample lz --beta 1000 --mu 0.999 --trajectories 100000 --reverse --seed 1` gave Jarzynski
    z = 392 and integral-FT z = 470: the exact pmf dropped atoms below 1e-308."""
    spec = LandauZener(beta=1000.0, mu=0.999)
    results, table = _lz_checks(spec, 100_000, 1)
    for direction, sign in (("forward", 1.0), ("reverse", -1.0)):
        declared = results.directions[direction]
        work, sigma = declared.observable("work"), declared.observable("entropy_production")
        assert abs(work.log_exponential_average(spec.beta) + sign * spec.beta * spec.free_energy_change()) < 1e-9
        assert abs(sigma.log_exponential_average(1.0)) < 1e-9
        assert np.isfinite(sigma.values).all()
    assert (table["verdict"] != "failed").all(), table.loc[table.verdict == "failed", "reason"]
    assert table.loc[("bar", "both", "work"), "verdict"] == "passed"
    assert table.loc[("jarzynski", "forward", "work"), "verdict"] == "inconclusive"
    _, wrong = _lz_checks(spec, 100_000, 1, 0.001)
    assert wrong.loc[("bar", "both", "work"), "verdict"] == "failed"


def test_landau_zener_entropy_atoms_have_no_placeholder_and_no_duplicates():
    """beta = 50, mu = 4.15: states of probability e^{-207.5} had ln p = -708.4 (placeholder) and
    1 - p cancelled, so the exact ln<e^{-sigma}> was 495.7; at mu = 0.45 an atom appeared twice."""
    for mu in (4.15, 0.45):
        spec = LandauZener(beta=50.0, mu=mu)
        for direction in ("forward", "reverse"):
            chain = spec.chain(direction)
            log_pmf = chain.log_joint_pmf()
            sigma = spec._observable_grids(direction, chain)["entropy_production"]
            possible = np.isfinite(log_pmf)
            assert abs(logsumexp(log_pmf[possible] - sigma[possible])) < 1e-9
            declared = spec.results({direction: {"counts": np.zeros((2, 2, chain.lattice_size), np.int64)}})
            for name in ("entropy_change", "entropy_production"):
                values = declared.directions[direction].observable(name).values
                assert np.all(np.diff(values) > 1e-6 * np.maximum(1.0, np.abs(values[1:]))), name


def test_landau_zener_at_beta_50_exponential_averages_without_power_are_inconclusive():
    """The issue's beta = 50 case: Jarzynski and integral-FT stderr 1e15-1e147 'passed' even with
    dOmega off by 0.1; they are inconclusive now, and BAR / Crooks catch an error of 0.001."""
    with pytest.warns(Warning, match="outside the validity"):
        spec = LandauZener(beta=50.0, mu=0.45, levels=(0.5, 1.7, 2.2, 4.0, 4.1), gaps=(0.6, 0.3, 0.8, 0.4, 0.2),
                           speeds=(1, 0.5, 2, 1, 0.3), level_start=0.0, level_end=5.0)
    _, table = _lz_checks(spec, 1_000_000, 3, 0.1)
    for direction in ("forward", "reverse"):
        assert table.loc[("jarzynski", direction, "work"), "verdict"] == "inconclusive"
        assert table.loc[("integral_ft", direction, "entropy_production"), "verdict"] == "inconclusive"
    _, right = _lz_checks(spec, 1_000_000, 3)
    assert right.loc[("bar", "both", "work"), "verdict"] == "passed"
    _, slightly = _lz_checks(spec, 1_000_000, 3, 0.001)
    assert slightly.loc[("bar", "both", "work"), "verdict"] == "failed"


@pytest.mark.parametrize("beta", [1.0, 25.0, 1000.0])
def test_staircase_work_law_in_log_space_equals_the_closed_form_at_any_beta(beta):
    """The chain DP in log space against the spec's independent log-space recursion (a q-binomial
    identity) for the work law, including atoms of probability e^{-30000}; Jarzynski exact."""
    spec = Staircase(beta=beta, steps=40)
    for direction, sign, closed in (("forward", 1.0, spec), ("reverse", -1.0, spec.reverse())):
        counts = np.zeros((2, 2, spec.steps + 1), np.int64)
        work = spec.results({direction: {"counts": counts}}).directions[direction].observable("work")
        expected = closed.log_work_pmf()
        assert np.all(np.isfinite(work.log_probability_exact))
        np.testing.assert_allclose(work.log_probability_exact, expected[np.argsort(closed.step * np.arange(41))],
                                   rtol=1e-12, atol=1e-9)
        assert abs(work.log_exponential_average(beta) + sign * beta * spec.free_energy_change()) < 1e-9


def test_counts_that_cannot_occur_at_this_sample_size_are_not_checked_unless_they_occur():
    """`jumps_dephasing_z_at_0 0 +- 1.1e-19` was noise: 1e-33 expected jumps per trajectory."""
    none = mean_check("forward", Observable("jumps", n=1000, total=0.0, total_squares=0.0, mean_exact=4.7e-33))
    assert none["verdict"] == "inconclusive" and none["reason"].startswith("not applicable")
    some = mean_check("forward", Observable("jumps", n=1000, total=1.0, total_squares=1.0, mean_exact=4.7e-33))
    assert some["verdict"] == "failed" and some["p_value"] == pytest.approx(4.7e-30)
