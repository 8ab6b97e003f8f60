"""Check rows: one verdict each ("passed", "failed" or "inconclusive") with its reason, the
estimate, what exact theory expects, a z-score and the threshold it is judged by.

Every function takes the declarations of ``mcthermo.results`` and returns one row (or rows); a
check whose estimator cannot estimate (too few samples, no overlap) gives an inconclusive row that
says why, never a missing row.  z-tests pass at |z| <= ``Z_THRESHOLD`` (5: a false alarm in 1.7
million per check for a correct sampler).  Goodness-of-fit rows report their statistic, degrees of
freedom and p-value in columns of those names and the one-sided normal quantile of the p-value as
``z`` so that all verdicts read alike.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import chi2 as chi2_distribution
from scipy.stats import norm

from . import theorems
from .results import ExactCount, Expectation, Observable
from .stats import Estimate, mean_estimate, variance_estimate

Z_THRESHOLD = 5.0
VERDICTS = ("passed", "failed", "inconclusive")


def row(check, direction, observable, *, verdict, reason="", estimate=np.nan, expected=np.nan,
        stderr=np.nan, ci_low=np.nan, ci_high=np.nan, z=np.nan, threshold=Z_THRESHOLD,
        trajectories=0, **extra) -> dict:
    """One row of the checks table (``passed`` is verdict == "passed")."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)} (got {verdict!r})")
    return {"check": check, "direction": direction, "observable": observable,
            "estimate": float(estimate), "expected": float(expected), "stderr": float(stderr),
            "ci_low": float(ci_low), "ci_high": float(ci_high), "z": float(z),
            "threshold": float(threshold), "verdict": verdict, "reason": reason,
            "passed": verdict == "passed", "trajectories": int(trajectories), **extra}


def _judged(check, direction, observable, est: Estimate, expected, z, threshold=Z_THRESHOLD,
            **extra) -> dict:
    """A z-test row: passed at |z| <= threshold, else failed."""
    passed = bool(abs(z) <= threshold)
    reason = "" if passed else f"|z| = {abs(z):.3g} > {threshold:.3g}"
    return row(check, direction, observable, verdict="passed" if passed else "failed",
               reason=reason, estimate=est.value, expected=expected, stderr=est.stderr,
               ci_low=est.ci_low, ci_high=est.ci_high, z=z, threshold=threshold,
               trajectories=est.n, **extra)


def not_applicable(check, direction, observable, reason) -> dict:
    """An inconclusive row for a check that does not apply (e.g. no exact answer)."""
    return row(check, direction, observable, verdict="inconclusive",
               reason=f"not applicable: {reason}")


def _cannot_estimate(check, direction, observable, error: Exception, n=0, **extra) -> dict:
    return row(check, direction, observable, verdict="inconclusive", reason=str(error),
               trajectories=n, **extra)


def _p_to_z(p_value):
    """One-sided normal quantile of a p-value: p = 0.5 -> 0, p = 2.9e-7 -> 5."""
    return float(np.clip(norm.isf(p_value), 0.0, 40.0)) if p_value > 0 else 40.0


def _exact(obs: Observable):
    moments = obs.exact_moments()
    return (np.nan, np.nan) if moments is None else moments


# --- one observable --------------------------------------------------------------------------
def mean_check(direction, obs: Observable, threshold=Z_THRESHOLD) -> dict:
    """Sample mean against the exact mean."""
    expected, _ = _exact(obs)
    if not np.isfinite(expected):
        return not_applicable("mean", direction, obs.name, "no exact mean declared")
    if obs.histogrammed:
        est = mean_estimate(obs.values, obs.counts)
    else:
        n = obs.n
        mean = obs.total / n
        variance = max(obs.total_squares / n - mean**2, 0.0) * n / (n - 1) if n > 1 else np.inf
        est = Estimate.normal(mean, np.sqrt(variance / n), n)
    return _judged("mean", direction, obs.name, est, expected, est.z(expected), threshold)


def variance_check(direction, obs: Observable, threshold=Z_THRESHOLD) -> dict:
    """Unbiased sample variance against the exact variance (needs the histogram)."""
    _, expected = _exact(obs)
    if not np.isfinite(expected):
        return not_applicable("variance", direction, obs.name, "no exact variance declared")
    if not obs.histogrammed:
        return not_applicable("variance", direction, obs.name, "no histogram (moments only)")
    est = variance_estimate(obs.values, obs.counts)
    return _judged("variance", direction, obs.name, est, expected, est.z(expected), threshold)


def distribution_check(direction, obs: Observable, threshold=Z_THRESHOLD, min_expected=5.0) -> dict:
    """G-test of the observed counts against the exact law on the same atoms.

    Atoms expecting fewer than ``min_expected`` counts are pooled into one cell (the test stays
    sensitive to mass where none is expected); a count on an atom of exact probability zero fails.
    """
    if not (obs.histogrammed and obs.has_law):
        return not_applicable("distribution", direction, obs.name, "no exact distribution declared")
    counts = obs.counts.astype(np.float64)
    probabilities = obs.probability_exact
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
    return _judged("distribution", direction, obs.name, est, dof, z, threshold,
                   statistic=g, dof=dof, p_value=p_value)


# --- exponential averages --------------------------------------------------------------------
def _with_null_floor(est: Estimate, obs: Observable, beta):
    """Raise the stderr of -ln<e^{-beta x}>/beta to at least its exact null value
    sqrt(Var e^{-beta x} / n) / (beta <e^{-beta x}>) when the exact law is known.

    e^{-beta x} can be heavy-tailed (its mean carried by rare trajectories); a run that has not
    reached that tail underestimates its own error and would false-alarm.
    """
    if not obs.has_law:
        return est
    a = -beta * obs.values
    log_p = obs.log_probability_exact
    # relative variance of e^{a} under p, in log space (the tail that carries the mean may be tiny)
    log_first = logsumexp(a + log_p)
    log_second = logsumexp(2.0 * a + log_p)
    if not (np.isfinite(log_first) and np.isfinite(log_second)):
        return est
    relative_variance = max(np.expm1(min(log_second - 2.0 * log_first, 700.0)), 0.0)
    null_stderr = np.sqrt(relative_variance / est.n) / beta
    return Estimate.normal(est.value, max(est.stderr, null_stderr), est.n)


def _exponential_check(check, direction, obs: Observable, beta, expected, threshold):
    try:
        est = theorems.jarzynski(obs.values, obs.counts, beta=beta)
    except ValueError as error:
        return _cannot_estimate(check, direction, obs.name, error, obs.n)
    est = _with_null_floor(est, obs, beta)
    return _judged(check, direction, obs.name, est, expected, est.z(expected), threshold)


def jarzynski_check(direction, work: Observable, beta, expected_free_energy,
                    threshold=Z_THRESHOLD) -> dict:
    """Jarzynski: the free-energy estimate -ln<e^{-beta W}>/beta of this direction against its
    exact free-energy change; with the exact work law, the stderr is at least the exact null one."""
    return _exponential_check("jarzynski", direction, work, beta, expected_free_energy, threshold)


def integral_ft_check(direction, sigma: Observable, expected_log_average: float,
                      threshold=Z_THRESHOLD) -> dict:
    """Integral fluctuation theorem: the estimate -ln<e^{-sigma}> against the exact
    -ln<e^{-sigma}> = -``expected_log_average`` (0 when <e^{-sigma}> = 1 holds exactly)."""
    return _exponential_check("integral_ft", direction, sigma, 1.0, -float(expected_log_average),
                              threshold)


# --- both directions -------------------------------------------------------------------------
def bar_check(forward_work: Observable, reverse_work: Observable, beta, expected_free_energy,
              threshold=Z_THRESHOLD) -> dict:
    """Bennett acceptance ratio dF from both directions against the exact dF."""
    try:
        est = theorems.bar(forward_work.values, forward_work.counts, reverse_work.values,
                           reverse_work.counts, beta=beta, bootstrap=0)
    except ValueError as error:
        return _cannot_estimate("bar", "both", "work", error, min(forward_work.n, reverse_work.n))
    return _judged("bar", "both", "work", est, expected_free_energy, est.z(expected_free_energy),
                   threshold, overlap=est.overlap)


def crooks_checks(forward_work: Observable, reverse_work: Observable, beta, expected_free_energy,
                  threshold=Z_THRESHOLD, min_count=50) -> list[dict]:
    """Two rows: ``crooks`` (dF from the log-ratio intercept against dF) and ``crooks_linearity``
    (chi-square of every populated log-ratio about the exact line beta (W - dF))."""
    try:
        fit = theorems.crooks(forward_work.values, forward_work.counts, reverse_work.values,
                              reverse_work.counts, beta=beta, min_count=min_count)
    except ValueError as error:
        n = min(forward_work.n, reverse_work.n)
        return [_cannot_estimate(check, "both", "work", error, n)
                for check in ("crooks", "crooks_linearity")]
    est = fit.free_energy
    chi2, dof, p_value = fit.chi2(expected_free_energy)
    linearity = Estimate(chi2, float(np.sqrt(2.0 * dof)), np.nan, np.nan, est.n)
    return [
        _judged("crooks", "both", "work", est, expected_free_energy, est.z(expected_free_energy),
                threshold, bins=dof),
        _judged("crooks_linearity", "both", "work", linearity, dof, _p_to_z(p_value), threshold,
                statistic=chi2, dof=dof, p_value=p_value, bins=dof),
    ]


# --- expectation values and exact identities -------------------------------------------------
def bonferroni_threshold(m: int, threshold=Z_THRESHOLD) -> float:
    """Max-|z| threshold over m z-scores at the family false-alarm rate 2 P(Z > threshold)
    (Bonferroni: holds whatever the correlation; 201 times x 3 components -> 6.1)."""
    return float(norm.isf(norm.sf(threshold) / max(m, 1)))


def expectation_check(e: Expectation) -> dict:
    """One verdict on the largest |z| over every output time and component whose stderr is not
    zero, at the Bonferroni threshold; the row shows that worst (time, component)."""
    mean, stderr, exact = (np.asarray(a, dtype=float) for a in (e.mean, e.stderr, e.exact))
    diff = mean - exact
    random = stderr > 1e-10
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(random, diff / stderr,
                     np.where(np.abs(diff) < 1e-9, 0.0, np.sign(diff) * np.inf))
    worst = np.unravel_index(np.argmax(np.abs(z)), z.shape)
    m = int(random.sum())
    threshold = bonferroni_threshold(m)
    est = Estimate.normal(mean[worst], stderr[worst], e.n)
    return _judged(e.check, "forward", e.observable, est, exact[worst], z[worst], threshold,
                   z_scores=m, time=float(e.times[worst[0]]), component=e.components[worst[1]])


def exact_count_check(c: ExactCount) -> dict:
    """An identity that must hold on every trajectory: passes only with no violation."""
    violations = int(c.violations)
    passed = violations == 0
    return row(c.check, "forward", c.observable, verdict="passed" if passed else "failed",
               reason="" if passed else f"{violations} of {c.n} trajectories violate it",
               estimate=violations, expected=0.0, stderr=0.0, ci_low=violations,
               ci_high=violations, z=0.0 if passed else np.inf, threshold=0.0, trajectories=c.n)
