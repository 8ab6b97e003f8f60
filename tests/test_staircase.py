"""Staircase exact answers against independent computations and the spec's numbers."""
import mpmath as mp
import numpy as np
import pytest

from mcthermo import Staircase
from mcthermo.models.staircase import free_energy

PARAMETER_SETS = [(1.0, np.log(2), np.log(3)), (2.5, -1.0, 3.0), (0.3, 2.0, 0.5), (1.0, 0.0, 5.0),
                  (4.0, 0.1, 0.2)]
PAPER = dict(beta=1.0, gap_start=float(np.log(2)), gap_end=float(np.log(3)))


def poisson_binomial(p):
    """pmf of the number of successes of independent Bernoulli(p_j), by dynamic programming."""
    pmf = np.zeros(len(p) + 1)
    pmf[0] = 1.0
    for pj in p:
        pmf[1:] = pmf[1:] * (1 - pj) + pmf[:-1] * pj
        pmf[0] *= 1 - pj
    return pmf


def paper_closed_form(spec):
    """The seed's Eq. (4) in plain float64 (ground-draw count k): correct but overflows for N > ~580."""
    beta, a, b, n, d = spec.beta, spec.gap_start, spec.gap_end, spec.steps, spec.step
    prefactor = np.prod(spec.excitation_probabilities()[:-1])
    out, acc = [prefactor], 1.0
    for l in range(n):
        acc *= (np.exp(beta * b) - np.exp(beta * (a + l * d))) / (np.exp(beta * (l + 1) * d) - 1)
        out.append(prefactor * acc)
    return np.array(out)[::-1]  # by excited draws


@pytest.mark.parametrize("beta,gap_start,gap_end", PARAMETER_SETS)
@pytest.mark.parametrize("steps", [1, 5, 20, 100, 1000])
def test_log_space_recursion_equals_dynamic_programming(beta, gap_start, gap_end, steps):
    spec = Staircase(beta, gap_start, gap_end, steps)
    dp = poisson_binomial(spec.excitation_probabilities()[:-1])
    log_p = spec.log_work_pmf()
    assert np.max(np.abs(np.exp(log_p) - dp)) < 1e-12
    ok = dp > 1e-250
    assert np.max(np.abs(np.expm1(log_p[ok] - np.log(dp[ok])))) < 1e-10
    # the chain kernel's exact DP gives the same work marginal
    chain_marginal = spec.chain().joint_pmf().sum(axis=(0, 1))
    assert np.max(np.abs(chain_marginal - dp)) < 1e-13
    if steps <= 100:
        assert np.max(np.abs(paper_closed_form(spec) - dp)) < 1e-13


def test_log_space_recursion_at_ten_thousand_steps_against_mpmath():
    spec = Staircase(steps=10_000, **PAPER)
    with mp.workdps(60):
        beta, a, b = mp.mpf(1), mp.log(2), mp.log(3)
        d = (b - a) / spec.steps
        log_prefactor = -mp.fsum(mp.log(1 + mp.exp(beta * (a + j * d))) for j in range(spec.steps))
        logs, acc = [log_prefactor], log_prefactor
        for l in range(spec.steps):
            acc += mp.log((mp.exp(beta * b) - mp.exp(beta * (a + l * d))) / (mp.exp(beta * (l + 1) * d) - 1))
            logs.append(acc)
        reference = np.array([float(x) for x in logs])[::-1]
    assert np.max(np.abs(spec.log_work_pmf() - reference)) < 1e-9
    # the paper's closed form in float64 is unusable here: 0 * inf
    with np.errstate(all="ignore"):
        assert not np.any(np.isfinite(paper_closed_form(spec)) & (paper_closed_form(spec) > 0))


def test_numbers_of_the_spec():
    assert Staircase(steps=1, **PAPER).free_energy_change() == pytest.approx(np.log(9 / 8), abs=1e-15)
    assert abs(np.log(9 / 8) - 0.117783035656) < 1e-12
    assert abs(Staircase(steps=1, **PAPER).mean_work() - 0.1351550360) < 1e-10
    big = Staircase(steps=15625, **PAPER)
    assert abs(big.mean_work() - 0.1177841169) < 1e-10
    assert abs(big.steps * (big.mean_work() - big.free_energy_change()) - 0.016894) < 1e-6
    for n in (100, 1000):
        assert abs(Staircase(steps=n, **PAPER).most_probable_work() - 0.11758488) < 1e-8
    assert abs(np.sqrt(Staircase(steps=100, **PAPER).work_variance() * 100) - 0.18389478) < 1e-8
    assert abs(np.sqrt(Staircase(steps=10_000, **PAPER).work_variance() * 10_000) - 0.18381797) < 1e-8
    assert abs(np.sqrt(np.log(1.5) / 12) - 0.18381719) < 1e-8  # the N -> infinity limit


@pytest.mark.parametrize("steps", [3, 100, 1000, 10_000])
def test_mode_is_the_paper_eq_11_root(steps):
    spec = Staircase(steps=steps, **PAPER)
    beta, d = spec.beta, spec.step
    k_star = np.log((1 + np.exp(beta * spec.gap_end)) / (np.exp(beta * d) + np.exp(beta * spec.gap_start))) / (beta * d)
    assert spec.most_probable_work() == pytest.approx((steps - np.ceil(k_star)) * d, abs=1e-12)
    assert abs(spec.most_probable_work() - spec.free_energy_change()) < d


@pytest.mark.parametrize("beta,gap_start,gap_end", PARAMETER_SETS)
@pytest.mark.parametrize("steps", [1, 7, 200])
def test_jarzynski_and_crooks_hold_exactly(beta, gap_start, gap_end, steps):
    forward = Staircase(beta, gap_start, gap_end, steps)
    reverse = forward.reverse()
    dF = forward.free_energy_change()
    log_f, log_r = forward.log_work_pmf(), reverse.log_work_pmf()
    w = forward.step * np.arange(steps + 1)
    assert np.logaddexp.reduce(log_f - beta * w) == pytest.approx(-beta * dF, abs=1e-12)
    assert np.logaddexp.reduce(log_r + beta * w) == pytest.approx(beta * dF, abs=1e-12)
    # P_F(W) / P_R(-W) = exp(beta (W - dF)); reverse work -W has the same excited-draw count
    finite = np.isfinite(log_f) & np.isfinite(log_r) & (log_f > -600) & (log_r > -600)
    assert np.max(np.abs(log_f[finite] - log_r[finite] - beta * (w[finite] - dF))) < 1e-10


def test_moments_and_minimum_work_principle():
    previous = np.inf
    for steps in [5**k for k in range(7)]:
        spec = Staircase(steps=steps, **PAPER)
        p = np.exp(spec.log_work_pmf())
        w = spec.step * np.arange(steps + 1)
        assert spec.mean_work() == pytest.approx(np.dot(p, w), abs=1e-12)
        assert spec.work_variance() == pytest.approx(np.dot(p, (w - np.dot(p, w)) ** 2), abs=1e-13)
        assert spec.free_energy_change() < spec.mean_work() < previous
        previous = spec.mean_work()


def test_equal_gaps_give_zero_work():
    spec = Staircase(1.0, 0.5, 0.5, 10)
    assert spec.free_energy_change() == 0.0 and spec.mean_work() == 0.0
    assert np.exp(spec.log_work_pmf()).sum() == pytest.approx(1.0, abs=1e-14)


def test_free_energy_is_stable_for_large_gaps():
    assert free_energy(1.0, 1e4) == pytest.approx(0.0, abs=1e-300)
    assert free_energy(1.0, -1e4) == pytest.approx(-1e4)


@pytest.mark.parametrize("kwargs,message", [
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(steps=2.5), "steps must be an integer >= 1"),
    (dict(beta=0.0), "beta must be positive"),
    (dict(beta=-1.0), "beta must be positive"),
    (dict(beta=float("nan")), "beta must be a finite number"),
    (dict(gap_end=float("inf")), "gap_end must be a finite number"),
])
def test_bad_parameters_are_refused_with_one_clear_sentence(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Staircase(**kwargs)
