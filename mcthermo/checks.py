"""Check rows: one verdict each, with the estimate, what exact theory expects, a z-score and the
threshold it is judged by.

Every check is a z-test with |z| <= ``Z_THRESHOLD`` (5 by default: a false alarm in 1.7 million per
check for a correct sampler).  Goodness-of-fit checks (G-test, chi-square) report the one-sided
normal quantile of their p-value as ``z`` so that all verdicts read alike.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import chi2 as chi2_distribution
from scipy.stats import norm

from . import theorems
from .stats import Estimate, mean_estimate, variance_estimate

Z_THRESHOLD = 5.0


def check_row(check, direction, observable, estimate: Estimate, expected, z, threshold, **extra):
    """One row of the checks table; passed means |z| <= threshold."""
    return {
        "check": check,
        "direction": direction,
        "observable": observable,
        "estimate": estimate.value,
        "expected": float(expected),
        "stderr": estimate.stderr,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "z": float(z),
        "threshold": float(threshold),
        "passed": bool(abs(z) <= threshold),
        "trajectories": estimate.n,
        **extra,
    }


def _p_to_z(p_value):
    """One-sided normal quantile of a p-value: p = 0.5 -> 0, p = 2.9e-7 -> 5."""
    return float(np.clip(norm.isf(p_value), 0.0, 40.0)) if p_value > 0 else 40.0


def mean_check(direction, observable, values, counts, expected, threshold=Z_THRESHOLD):
    est = mean_estimate(values, counts)
    return check_row("mean", direction, observable, est, expected, est.z(expected), threshold)


def variance_check(direction, observable, values, counts, expected, threshold=Z_THRESHOLD):
    est = variance_estimate(values, counts)
    return check_row("variance", direction, observable, est, expected, est.z(expected), threshold)


def distribution_check(direction, observable, counts, probabilities, threshold=Z_THRESHOLD,
                       min_expected=5.0):
    """G-test of observed counts against exact probabilities on the same atoms.

    Atoms expecting fewer than ``min_expected`` counts are pooled into one cell (the test stays
    sensitive to mass where none is expected); a count on an atom of exact probability zero fails.
    ``estimate`` is G, ``expected`` its mean under the null (dof).
    """
    counts = np.asarray(counts, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = counts.sum()
    impossible = counts[probabilities <= 0].sum()
    expected_counts = n * probabilities
    large = expected_counts >= min_expected
    observed = np.append(counts[large], counts[~large].sum())
    expected = np.append(expected_counts[large], expected_counts[~large].sum())
    keep = expected > 0
    observed, expected = observed[keep], expected[keep]
    dof = max(observed.size - 1, 1)
    nonzero = observed > 0
    g = 2.0 * float(np.sum(observed[nonzero] * np.log(observed[nonzero] / expected[nonzero])))
    p_value = 0.0 if impossible > 0 else float(chi2_distribution.sf(g, dof))
    z = _p_to_z(p_value)
    est = Estimate(g, float(np.sqrt(2.0 * dof)), np.nan, np.nan, int(n))
    return check_row("distribution", direction, observable, est, dof, z, threshold, p_value=p_value)


def _with_null_floor(est: Estimate, values, probability_exact, beta):
    """Raise the stderr of -ln<e^{-beta x}>/beta to at least its exact null value
    sqrt(Var e^{-beta x} / n) / (beta <e^{-beta x}>) when the exact distribution is known.

    e^{-beta x} can be heavy-tailed (its mean carried by rare trajectories); a run that has not
    reached that tail underestimates its own error and would false-alarm.
    """
    if probability_exact is None:
        return est
    a = -beta * np.asarray(values, dtype=float)
    with np.errstate(divide="ignore"):
        log_p = np.log(np.asarray(probability_exact, dtype=float))
    # relative variance of e^{a} under p, in log space (the tail that carries the mean may be tiny)
    log_first = logsumexp(a + log_p)
    log_second = logsumexp(2.0 * a + log_p)
    if not (np.isfinite(log_first) and np.isfinite(log_second)):
        return est
    relative_variance = max(np.expm1(min(log_second - 2.0 * log_first, 700.0)), 0.0)
    null_stderr = np.sqrt(relative_variance / est.n) / beta
    return Estimate.normal(est.value, max(est.stderr, null_stderr), est.n)


def jarzynski_check(direction, values, counts, beta, expected_free_energy, probability_exact=None,
                    threshold=Z_THRESHOLD):
    """Jarzynski: the free-energy estimate -ln<e^{-beta W}>/beta against dF (or -dF for reverse);
    with the exact work distribution, the stderr is at least the exact null one."""
    est = _with_null_floor(theorems.jarzynski(values, counts, beta=beta), values, probability_exact, beta)
    return check_row("jarzynski", direction, "work", est, expected_free_energy,
                     est.z(expected_free_energy), threshold)


def integral_ft_check(direction, observable, values, counts, probability_exact=None,
                      threshold=Z_THRESHOLD):
    """Integral fluctuation theorem <e^{-sigma}> = 1: the estimate -ln<e^{-sigma}> against 0
    (with the exact distribution of sigma, the stderr is at least the exact null one)."""
    est = _with_null_floor(theorems.jarzynski(values, counts, beta=1.0), values, probability_exact, 1.0)
    return check_row("integral_ft", direction, observable, est, 0.0, est.z(0.0), threshold)


def bar_check(forward, reverse, beta, expected_free_energy, threshold=Z_THRESHOLD):
    """Bennett acceptance ratio dF from both directions against the exact dF."""
    est = theorems.bar(*forward, *reverse, beta=beta, bootstrap=0)
    return check_row("bar", "both", "work", est, expected_free_energy, est.z(expected_free_energy),
                threshold, overlap=est.overlap)


def crooks_checks(forward, reverse, beta, expected_free_energy, threshold=Z_THRESHOLD, min_count=50):
    """Two rows: ``crooks`` (dF from the log-ratio intercept against dF) and ``crooks_linearity``
    (chi-square of every populated log-ratio about the exact line beta (W - dF))."""
    fit = theorems.crooks(*forward, *reverse, beta=beta, min_count=min_count)
    est = fit.free_energy
    chi2, dof, p_value = fit.chi2(expected_free_energy)
    linearity = Estimate(chi2, float(np.sqrt(2.0 * dof)), np.nan, np.nan, est.n)
    return [
        check_row("crooks", "both", "work", est, expected_free_energy, est.z(expected_free_energy),
             threshold, bins=dof),
        check_row("crooks_linearity", "both", "work", linearity, dof, _p_to_z(p_value), threshold,
             p_value=p_value, bins=dof),
    ]
