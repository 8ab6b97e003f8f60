"""Estimators against direct computation and exact test systems (Gaussian work)."""
import numpy as np
import pytest

from mcthermo import theorems
from mcthermo.stats import log_mean_exp, mean_estimate, variance_estimate


def test_log_mean_exp_equals_direct_computation_on_counts_and_samples():
    values = np.array([-1.0, 0.0, 0.5, 2.0])
    counts = np.array([3, 0, 5, 2])
    samples = np.repeat(values, counts)
    direct = np.log(np.mean(np.exp(-2.0 * samples)))
    stderr = np.std(np.exp(-2.0 * samples)) / np.sqrt(samples.size) / np.exp(direct)
    for args in [(values, counts), (samples, None)]:
        log_mean, log_stderr, n = log_mean_exp(*args, scale=-2.0)
        assert log_mean == pytest.approx(direct, abs=1e-14)
        assert log_stderr == pytest.approx(stderr, rel=1e-12)
        assert n == 10


def test_log_mean_exp_does_not_overflow():
    log_mean, _, _ = log_mean_exp([-2000.0, -1990.0], [1, 1], scale=-1.0)
    assert log_mean == pytest.approx(2000.0 + np.log((1 + np.exp(-10.0)) / 2), abs=1e-9)


def test_jarzynski_on_gaussian_work_and_it_can_fail():
    # Gaussian work: dF = mu - beta sigma^2 / 2 exactly
    beta, mu, sigma = 1.0, 1.0, 0.5
    work = np.random.default_rng(3).normal(mu, sigma, 400_000)
    estimate = theorems.jarzynski(work, beta=beta)
    assert abs(estimate.z(mu - beta * sigma**2 / 2)) < 5
    assert abs(estimate.z(mu - beta * sigma**2 / 2 + 0.01)) > 5
    assert estimate.ci_low < mu - beta * sigma**2 / 2 < estimate.ci_high


def test_mean_and_variance_estimates():
    x = np.random.default_rng(4).exponential(2.0, 300_000)
    assert abs(mean_estimate(x).z(2.0)) < 5
    assert abs(variance_estimate(x).z(4.0)) < 5
    assert abs(variance_estimate(x).z(4.2)) > 5


def test_crooks_on_exact_staircase_pmfs():
    from mcthermo import Staircase

    spec = Staircase(steps=10)
    rng = np.random.default_rng(5)
    pf, pr = np.exp(spec.log_work_pmf()), np.exp(spec.reverse().log_work_pmf())
    wf = spec.step * np.arange(11)
    cf, cr = rng.multinomial(500_000, pf), rng.multinomial(500_000, pr)
    fit = theorems.crooks(wf, cf, -wf, cr, beta=1.0)
    assert abs(fit.free_energy.z(spec.free_energy_change())) < 5
    assert fit.chi2(spec.free_energy_change())[2] > 1e-6
    assert fit.chi2(spec.free_energy_change() + 0.01)[2] < 1e-6


@pytest.mark.parametrize("values,counts,message", [
    ([1.0, np.nan], None, "finite"),
    ([1.0, np.inf], [1, 1], "finite"),
    ([], None, "empty"),
    ([1.0, 2.0], [0, 0], "empty"),
])
def test_bad_samples_give_a_clear_error(values, counts, message):
    with pytest.raises(ValueError, match=message):
        theorems.jarzynski(values, counts, beta=1.0)


def test_crooks_without_overlap_and_bad_beta_are_refused():
    with pytest.raises(ValueError, match="no work value"):
        theorems.crooks([1.0, 2.0], [100, 100], [5.0], [100], beta=1.0)
    with pytest.raises(ValueError, match="beta"):
        theorems.jarzynski([1.0], beta=-1.0)
