"""EXP, BAR and Crooks fits: against pymbar 4, against exact answers, and able to fail."""
import warnings

import numpy as np
import pytest

from mcthermo import Staircase, theorems

BETA, DF, SIGMA = 2.0, 0.7, 0.6


def _gaussian_work(seed, n_forward=20_000, n_reverse=15_000):
    """Gaussian work pair obeying Crooks: W_F ~ N(dF + beta s^2/2, s), W_R ~ N(-dF + beta s^2/2, s)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(DF + BETA * SIGMA**2 / 2, SIGMA, n_forward),
            rng.normal(-DF + BETA * SIGMA**2 / 2, SIGMA, n_reverse))


@pytest.fixture(scope="module")
def pymbar_estimators():
    pytest.importorskip("pymbar")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymbar import other_estimators
    return other_estimators


def test_exp_and_bar_equal_pymbar(pymbar_estimators):
    forward, reverse = _gaussian_work(1)
    reference = pymbar_estimators.bar(BETA * forward, BETA * reverse, relative_tolerance=1e-14,
                                      maximum_iterations=10_000)
    ours = theorems.bar(forward, None, reverse, None, beta=BETA, bootstrap=0)
    assert ours.value == pytest.approx(reference["Delta_f"] / BETA, abs=1e-8)
    assert ours.stderr == pytest.approx(reference["dDelta_f"] / BETA, abs=1e-8)
    for work in (forward, reverse):
        exp = pymbar_estimators.exp(BETA * work)
        ours = theorems.exponential_average(work, beta=BETA, bootstrap=0)
        assert ours.value == pytest.approx(exp["Delta_f"] / BETA, abs=1e-8)
        assert ours.stderr == pytest.approx(exp["dDelta_f"] / BETA, abs=1e-8)


def test_overlap_equals_pymbar(pymbar_estimators):
    forward, reverse = _gaussian_work(2, 3000, 3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymbar's MBAR solver passes options scipy warns about
        reference = pymbar_estimators.bar_overlap(BETA * forward, BETA * reverse)
    assert theorems.bar(forward, None, reverse, None, beta=BETA, bootstrap=0).overlap == pytest.approx(
        reference, abs=1e-8)


def test_counts_and_samples_give_the_same_estimates(staircase_work_counts):
    w, cf, cr, _ = staircase_work_counts
    sf, sr = np.repeat(w, cf), np.repeat(-w, cr)
    for a, b in [(theorems.exponential_average(w, cf, beta=1.0, seed=1),
                  theorems.exponential_average(sf, beta=1.0, seed=1)),
                 (theorems.bar(w, cf, -w, cr, beta=1.0, seed=1), theorems.bar(sf, None, sr, None, beta=1.0, seed=1))]:
        assert a.value == pytest.approx(b.value, abs=1e-12)
        assert a.stderr == pytest.approx(b.stderr, abs=1e-12)
        assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high), abs=1e-12)


def test_bar_and_exp_find_the_exact_free_energy_and_can_fail():
    forward, reverse = _gaussian_work(4)
    for estimate in [theorems.bar(forward, None, reverse, None, beta=BETA, bootstrap=100),
                     theorems.exponential_average(forward, beta=BETA, bootstrap=100)]:
        assert abs(estimate.z(DF)) < 5 and estimate.ci_low < DF < estimate.ci_high
        assert estimate.interval == "bootstrap"
        assert abs(estimate.z(DF + 0.05)) > 5


def test_exp_bias_matches_the_gore_ritort_bustamante_estimate():
    # many small samples of an exact staircase distribution: mean(dF_hat) - dF vs the reported bias
    spec = Staircase(beta=1.0, gap_start=0.0, gap_end=3.0, steps=2)
    w, p = spec.step * np.arange(3), np.exp(spec.log_work_pmf())
    rng = np.random.default_rng(5)
    n, replicates = 20, 200_000
    counts = rng.multinomial(n, p, size=replicates)
    estimates = -np.log(counts @ np.exp(-w) / n)  # the EXP estimator of each replicate (beta = 1)
    observed = estimates.mean() - spec.free_energy_change()
    stderr = estimates.std() / np.sqrt(replicates)
    reported = np.mean([theorems.jarzynski(w, c, beta=1.0).bias for c in counts[:2000]])
    assert observed > 5 * stderr  # the bias is real and positive
    # leading order in 1/n: agreement to O(1/n^2) relative corrections, i.e. ~15 % at n = 20
    assert abs(observed - reported) < 0.15 * reported + 5 * stderr


def test_convergence_warning_for_too_few_trajectories():
    spec = Staircase(beta=1.0, gap_start=0.0, gap_end=12.0, steps=1)  # W_diss ~ 5.3, n = 20
    w = spec.step * np.arange(2)
    with pytest.warns(theorems.ConvergenceWarning, match="dissipated work"):
        theorems.exponential_average(w, [10, 10], beta=1.0, bootstrap=0)


def test_bar_refuses_non_overlapping_samples():
    with pytest.raises(theorems.EstimatorError, match="do not overlap"):
        theorems.bar([10.0, 11.0], None, [10.0, 11.0], None, beta=5.0, bootstrap=0)


def test_crooks_fit_slope_intercept_and_crossing():
    spec = Staircase(steps=10)
    rng = np.random.default_rng(6)
    w = spec.step * np.arange(11)
    cf = rng.multinomial(400_000, np.exp(spec.log_work_pmf()))
    cr = rng.multinomial(400_000, np.exp(spec.reverse().log_work_pmf()))
    fit = theorems.crooks(w, cf, -w, cr, beta=1.0)
    dF = spec.free_energy_change()
    assert abs(fit.slope.z(1.0)) < 5 and abs(fit.intercept.z(-dF)) < 5
    assert abs(fit.crossing.z(dF)) < 5 and abs(fit.free_energy.z(dF)) < 5
    assert abs(fit.slope.z(1.3)) > 5  # slope stderr ~0.04: a 30 % wrong temperature is flagged


def test_crooks_fit_on_binned_samples():
    forward, reverse = _gaussian_work(7, 200_000, 200_000)
    edges = np.linspace(-0.5, 2.5, 31)
    fit = theorems.crooks(forward, None, reverse, None, beta=BETA, bins=edges)
    assert abs(fit.slope.z(BETA)) < 5 and abs(fit.crossing.z(DF)) < 5


def test_bad_estimator_input():
    with pytest.raises(ValueError, match="finite"):
        theorems.bar([1.0, np.nan], None, [1.0], None, beta=1.0)
    with pytest.raises(ValueError, match="empty"):
        theorems.bar([], None, [1.0], None, beta=1.0)
    with pytest.raises(ValueError, match="beta"):
        theorems.exponential_average([1.0], beta=0.0)


def test_bar_diagnostics_and_no_overflow_at_large_beta():
    """beta = 1000 with beta sigma_W = 2: the overlap, ESS and bias stay finite without overflow
    warnings (pytest turns warnings into errors)."""
    rng = np.random.default_rng(9)
    beta, df, s = 1000.0, 0.7, 0.002
    forward = rng.normal(df + beta * s**2 / 2, s, 5000)
    reverse = rng.normal(-df + beta * s**2 / 2, s, 5000)
    est = theorems.bar(forward, None, reverse, None, beta=beta, bootstrap=0)
    assert abs(est.value - df) < 5 * est.stderr and 0 < est.overlap < 1
    ess = theorems.bar_effective_sample_size(forward, None, reverse, None, beta=beta, free_energy=est.value)
    assert 1 < ess < 5000
    bias = theorems.bar_bias(forward, None, reverse, None, beta=beta, replicates=16)
    assert abs(bias) < est.stderr
    far = theorems.overlap((np.array([0.0]), np.array([1.0]), 1), (np.array([-50.0]), np.array([1.0]), 1),
                           beta, 25.0)
    assert far == 0.0   # e^{-25000} per sample, without overflow
