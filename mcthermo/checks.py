"""Check rows: one verdict each ("passed", "failed", "inconclusive" or "not applicable") with its
reason, the estimate, what exact theory expects, a z-score and the threshold it is judged by.

"inconclusive": the check applies but these data cannot decide it (too few samples, no power, an
average carried by paths the sample cannot contain); "not applicable": the check does not apply to
this system or observable (no exact answer, a theorem whose hypotheses fail, bookkeeping rows that
are informational by design) -- it says why, and never makes ``mcthermo check --strict`` fail.

Every function takes the declarations of ``mcthermo.results`` and returns one row (or rows); a
check whose estimator cannot estimate (too few samples, no overlap) gives an inconclusive row that
says why, never a missing row.  z-tests pass at |z| <= ``Z_THRESHOLD`` (5: a false alarm in 1.7
million per check for a correct sampler).  Goodness-of-fit rows report their statistic, degrees of
freedom and p-value in columns of those names, the statistic as ``estimate`` beside its null mean
(the degrees of freedom) as ``expected``, and the one-sided normal quantile of the p-value as
``z`` so that all verdicts read alike.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp
from scipy.stats import binom, norm
from scipy.stats import chi2 as chi2_distribution

from . import exponential, theorems
from .results import EngineEfficiency, ExactCount, Expectation, Observable
from .stats import Estimate, log_sum_exp, variance_from_sums

Z_THRESHOLD = 5.0
VERDICTS = ("passed", "failed", "inconclusive", "not applicable")


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


def not_applicable(check, direction, observable, reason, **extra) -> dict:
    """A "not applicable" row for a check that does not apply (e.g. no exact answer), saying why."""
    return row(check, direction, observable, verdict="not applicable", reason=reason, **extra)


def _cannot_estimate(check, direction, observable, error: Exception, n=0, **extra) -> dict:
    """The estimator had no answer for these data: an inconclusive row saying why."""
    return row(check, direction, observable, verdict="inconclusive", reason=str(error),
               trajectories=n, **extra)


def _p_to_z(p_value):
    """One-sided normal quantile of a p-value: p = 0.5 -> 0, p = 2.9e-7 -> 5."""
    return float(np.clip(norm.isf(p_value), 0.0, 40.0)) if p_value > 0 else 40.0


def _exact(obs: Observable):
    moments = obs.exact_moments()
    return (np.nan, np.nan) if moments is None else moments


# --- tail probabilities at any sample size ---------------------------------------------------
def _two_sided_z(p_value, sign) -> float:
    """The signed normal quantile of a two-sided p-value: |z| = Phi^{-1}(1 - p/2)."""
    if p_value <= 0:
        return float(np.copysign(np.inf, sign))
    return float(np.copysign(norm.isf(min(p_value, 1.0) / 2.0), sign))


def _chernoff_log_tail(values, log_p, mean, expected):
    """ln of the Chernoff bound on P(sample mean beyond ``mean``) for one trajectory's law
    (values, log_p): -I(mean) per trajectory, I the Legendre transform of ln<e^{t x}>.

    A rigorous bound at every sample size: used where the normal approximation of the tail cannot
    be trusted (few counts in the atoms that carry the variance).
    """
    side = 1.0 if mean > expected else -1.0
    possible = np.isfinite(log_p)
    x, log_p = side * (values[possible] - expected), log_p[possible]
    m = side * (mean - expected)
    top = x.max()
    if m > top * (1 + 1e-12):
        return -np.inf                                  # no trajectory reaches that far
    if m >= top:                                        # every trajectory on the extreme atom
        return float(logsumexp(log_p[x >= top]))

    def slope(t):                                       # d/dt ln<e^{t x}> - m: increasing in t
        w = t * x + log_p
        return float(np.dot(np.exp(w - log_sum_exp(w)), x)) - m

    if slope(0.0) >= 0:                                 # the law's mean is beyond the sample's
        return 0.0
    high = 1.0 / max(float(np.max(np.abs(x))), 1e-300)
    while slope(high) < 0:
        high *= 2.0
    t = brentq(slope, 0.0, high, xtol=1e-14 * high, maxiter=200)
    return float(-(t * m - log_sum_exp(t * x + log_p)))


def _small_counts(log_p, values, n, variance) -> bool:
    """Whether the normal approximation of the sample-mean tail at 5 sigma is unsafe: the law's
    skewness / sqrt(n) or excess kurtosis / n above 0.05 (Edgeworth corrections of ~20 %)."""
    if variance <= 0:
        return False
    p = np.exp(log_p)
    centred = values - np.dot(p, values)
    skewness = np.dot(p, centred**3) / variance**1.5
    kurtosis = np.dot(p, centred**4) / variance**2 - 3.0
    return bool(abs(skewness) / np.sqrt(n) > 0.05 or abs(kurtosis) / n > 0.05)


def _mean_test(values, counts, log_p, expected, variance, sample_variance, n):
    """(estimate, stderr, z, p_value, method) of a sample mean against ``expected``.

    stderr is the exact null sqrt(variance / n) when the variance is known; with the law and few
    counts the p-value is the Chernoff bound (method "chernoff"), else the normal tail."""
    mean = float(np.dot(counts, values) / n)
    known = variance is not None and np.isfinite(variance)
    stderr = float(np.sqrt((variance if known else sample_variance) / n))
    if log_p is not None and known and _small_counts(log_p, values, n, variance):
        log_tail = n * _chernoff_log_tail(values, log_p, mean, expected)
        p_value = float(min(1.0, 2.0 * np.exp(log_tail))) if mean != expected else 1.0
        return mean, stderr, _two_sided_z(p_value, mean - expected), p_value, "chernoff"
    z = Estimate.normal(mean, stderr, n).z(expected)
    return mean, stderr, z, float(2.0 * norm.sf(abs(z))), "normal"


def value_scale(obs: Observable, expected=0.0) -> float:
    """The scale of an observable's values against which round-off is judged (declared, else the
    largest of 1, |expected| and the largest |sampled value|)."""
    if obs.value_scale is not None:
        return float(obs.value_scale)
    top = float(np.abs(obs.values).max(initial=0.0)) if obs.histogrammed else abs(obs.total / max(obs.n, 1))
    return max(1.0, abs(float(expected)) if np.isfinite(expected) else 0.0, top)


def is_deterministic(obs: Observable, mean, variance) -> bool:
    """Exact variance zero within round-off relative to the scale of the values
    (std <= ``exponential.ROUND_OFF`` x scale): the observable cannot vary."""
    return bool(np.isfinite(variance)
                and np.sqrt(max(variance, 0.0)) <= exponential.ROUND_OFF * value_scale(obs, mean))


def _samples_off(obs: Observable, expected) -> int:
    """How many samples differ from ``expected`` by more than round-off (moments only: 0 or n,
    from the sample mean and spread)."""
    tolerance = exponential.ROUND_OFF * value_scale(obs, expected)
    if obs.histogrammed:
        return int(obs.counts[np.abs(obs.values - expected) > tolerance].sum())
    n = obs.n
    mean = obs.total / n
    # the spread of identical values computed from their sums is round-off of the mean square
    # (variance_from_sums: exactly 0 there), never a sample that differs
    spread = float(variance_from_sums(obs.total, obs.total_squares, n))
    return 0 if abs(mean - expected) <= tolerance and np.sqrt(spread) <= tolerance else n


def _cannot_vary(check, direction, obs, expected, n, **extra):
    """An observable of exact variance 0 (within round-off): passed when every sample equals the
    exact value, failed when one differs."""
    off = _samples_off(obs, expected)
    estimate = obs.total / n if not obs.histogrammed else np.dot(obs.counts, obs.values) / n
    if off == 0:
        return row(check, direction, obs.name, verdict="passed", estimate=estimate, expected=expected,
                   stderr=0.0, z=0.0, trajectories=n, reason="no sampled fluctuation: the exact "
                   "variance is 0 and every sample sits on the exact value", **extra)
    return row(check, direction, obs.name, verdict="failed", estimate=estimate,
               expected=expected, stderr=0.0, z=np.inf, trajectories=n,
               reason=f"exact variance 0 but {off} of {n} samples differ from {expected:.6g}", **extra)


# --- one observable --------------------------------------------------------------------------
def _is_count(obs: Observable) -> bool:
    """Moments of a non-negative integer observable (jump counts)."""
    return (obs.total >= 0 and float(obs.total).is_integer()
            and float(obs.total_squares).is_integer() and obs.total_squares >= obs.total)


#: a count observable expecting fewer events than this in the whole sample cannot vary in practice
RARE_COUNT = 1e-6


def _rare_count(direction, obs: Observable, expected, threshold) -> dict:
    """A count expecting n<x> << 1 events in the whole sample: not checked when none occurred;
    judged by Markov's bound P(total >= k) <= n<x> / k when some did (exact, any law)."""
    n, total = obs.n, obs.total
    if total == 0:
        return not_applicable("mean", direction, obs.name, f"expects {n * expected:.2g} events in "
                              f"{n} trajectories: it cannot vary at this sample size")
    p_value = min(1.0, n * expected / total)
    z = _two_sided_z(2.0 * p_value, 1.0)
    est = Estimate.normal(total / n, np.nan, n)
    return _judged("mean", direction, obs.name, est, expected, z, threshold, p_value=p_value,
                   method="markov")


def mean_check(direction, obs: Observable, threshold=Z_THRESHOLD) -> dict:
    """Sample mean against the exact mean, judged with the exact variance where it is known.

    Without an exact variance the sample variance is used, floored for non-negative integer
    observables by f (1 - f), f the fractional part of the exact mean (the least variance an
    integer variable of that mean can have); a sample without any spread is then inconclusive.
    """
    expected, variance = _exact(obs)
    if not np.isfinite(expected):
        return not_applicable("mean", direction, obs.name, "no exact mean declared")
    if obs.histogrammed:
        values, counts, n = obs.values, obs.counts.astype(float), obs.n
        sample_variance = float(np.dot(counts, (values - np.dot(counts, values) / n) ** 2)) / max(n - 1, 1)
    else:
        values, counts, n = np.array([obs.total / obs.n]), np.array([float(obs.n)]), obs.n
        sample_variance = max(obs.total_squares / n - (obs.total / n) ** 2, 0.0) * n / max(n - 1, 1)
    if n < 2:
        return row("mean", direction, obs.name, verdict="inconclusive", trajectories=n,
                   expected=expected, reason=f"{n} trajectory: no error estimate")
    if is_deterministic(obs, expected, variance):
        return _cannot_vary("mean", direction, obs, expected, n)
    if not obs.histogrammed and _is_count(obs) and n * expected < RARE_COUNT:
        return _rare_count(direction, obs, expected, threshold)
    if not np.isfinite(variance):
        if not obs.histogrammed and _is_count(obs):
            fraction = expected - np.floor(expected)
            sample_variance = max(sample_variance, fraction * (1.0 - fraction))
        if sample_variance <= 0:
            return row("mean", direction, obs.name, verdict="inconclusive", trajectories=n,
                       estimate=np.dot(counts, values) / n, expected=expected, stderr=0.0,
                       reason="every sample alike and no exact variance: the spread is unknown")
        variance = None
    log_p = obs.log_probability_exact
    mean, stderr, z, p_value, method = _mean_test(values, counts, log_p, expected, variance,
                                                  sample_variance, n)
    est = Estimate.normal(mean, stderr, n)
    return _judged("mean", direction, obs.name, est, expected, z, threshold, p_value=p_value,
                   method=method)


def variance_check(direction, obs: Observable, threshold=Z_THRESHOLD) -> dict:
    """The variance about the exact mean, V = <(x - mean_exact)^2> (unbiased for the exact
    variance), tested as the mean of y = (x - mean_exact)^2 with y's exact law: exact null stderr
    sqrt((mu_4 - sigma^4) / n), Chernoff tail at small counts."""
    expected_mean, expected = _exact(obs)
    if not np.isfinite(expected):
        return not_applicable("variance", direction, obs.name, "no exact variance declared")
    if obs.n < 2:
        return row("variance", direction, obs.name, verdict="inconclusive", trajectories=obs.n,
                   expected=expected, reason=f"{obs.n} trajectory: no error estimate")
    if is_deterministic(obs, expected_mean, expected):
        return _cannot_vary("variance", direction, obs, expected_mean, obs.n)
    if not obs.histogrammed:
        return _moment_variance_check(direction, obs, expected_mean, expected, threshold)
    squares = (obs.values - expected_mean) ** 2
    counts = obs.counts.astype(float)
    n = obs.n
    if n < 2:
        return row("variance", direction, obs.name, verdict="inconclusive", trajectories=n,
                   expected=expected, reason=f"{n} trajectory: no error estimate")
    log_p = obs.log_probability_exact
    if log_p is not None:
        p = np.exp(log_p - logsumexp(log_p))
        spread = float(np.dot(p, (squares - expected) ** 2))
    else:
        spread = None
    sample_spread = float(np.dot(counts, (squares - np.dot(counts, squares) / n) ** 2)) / (n - 1)
    mean, stderr, z, p_value, method = _mean_test(squares, counts, log_p, expected, spread,
                                                  sample_spread, n)
    return _judged("variance", direction, obs.name, Estimate.normal(mean, stderr, n), expected, z,
                   threshold, p_value=p_value, method=method)


def _moment_variance_check(direction, obs: Observable, mean, variance, threshold) -> dict:
    """Variance about the exact mean from the sums of x and x^2, judged with the exact null stderr
    sqrt((mu_4 - variance^2) / n), mu_4 from the exact generating function; without one the
    row says why."""
    log_g = obs.log_generating_function
    if log_g is None:
        return not_applicable("variance", direction, obs.name, "moments only and no exact "
                              "generating function (its fourth moment sets the stderr)")
    n = obs.n
    estimate = obs.total_squares / n - 2.0 * mean * obs.total / n + mean * mean
    spread = exponential.fourth_central_moment(log_g, mean, variance) - variance**2
    if not spread > 0:
        return row("variance", direction, obs.name, verdict="inconclusive", trajectories=n,
                   estimate=estimate, expected=variance, reason="exact fourth moment not positive "
                   "(round-off): no stderr")
    est = Estimate.normal(estimate, np.sqrt(spread / n), n)
    z = est.z(variance)
    return _judged("variance", direction, obs.name, est, variance, z, threshold,
                   p_value=float(2.0 * norm.sf(abs(z))), method="normal (exact mu_4 from G)")


def _binomial_p_value(k, n, probability) -> float:
    """Two-sided exact binomial tail of k successes in n trials."""
    if probability <= 0:
        return 1.0 if k == 0 else 0.0
    lower, upper = binom.cdf(k, n, probability), binom.sf(k - 1, n, probability)
    return float(min(1.0, 2.0 * min(lower, upper)))


def _g_test(observed, expected):
    """(G, dof, p-value) of observed counts against expected counts on the same cells."""
    if observed.size < 2:
        return 0.0, 0, 1.0
    nonzero = observed > 0
    g = 2.0 * float(np.sum(observed[nonzero] * np.log(observed[nonzero] / expected[nonzero])))
    dof = observed.size - 1
    return g, dof, float(chi2_distribution.sf(g, dof))


def distribution_check(direction, obs: Observable, threshold=Z_THRESHOLD, min_expected=5.0) -> dict:
    """Goodness of fit of the observed counts to the exact law on the same atoms.

    Atoms expecting at least ``min_expected`` counts get a G-test; the others are pooled into one
    cell (the test stays sensitive to mass where little is expected).  When that pooled cell itself
    expects fewer than ``min_expected`` counts its count K is judged by the exact binomial tail
    and the G-test runs on the other atoms given K (independent tests, combined by Sidak:
    p = 1 - (1 - min p)^2).  A count on an atom of exact probability zero fails; a one-atom law
    with every sample on it passes (a deterministic observable); a sample off the atom fails.
    """
    if not (obs.histogrammed and obs.has_law):
        if _has_generating_function(obs):
            return generating_distribution_check(direction, obs, threshold)
        return not_applicable("distribution", direction, obs.name, "no exact distribution declared")
    counts = obs.counts.astype(np.float64)
    log_p = obs.log_probability_exact - logsumexp(obs.log_probability_exact)
    probabilities = np.exp(log_p)
    n = obs.n
    impossible = counts[np.isneginf(log_p)].sum()
    if impossible == 0 and np.count_nonzero(np.isfinite(log_p)) == 1:
        # a one-atom law (a deterministic observable): every sample is on the atom
        return row("distribution", direction, obs.name, verdict="passed", trajectories=n,
                   estimate=0.0, expected=0.0, stderr=0.0, z=0.0, reason="no sampled fluctuation: "
                   "the exact law has one atom and every sample is on it")
    large = n * probabilities >= min_expected
    rare_count, rare_probability = counts[~large].sum(), float(probabilities[~large].sum())
    if n * rare_probability >= min_expected:
        g, dof, p_value = _g_test(np.append(counts[large], rare_count),
                                  n * np.append(probabilities[large], rare_probability))
        method = "G-test"
    else:
        kept = n - rare_count
        g, dof, p_g = _g_test(counts[large], kept * probabilities[large] / probabilities[large].sum()
                              if large.any() else counts[large])
        p_b = _binomial_p_value(int(rare_count), n, rare_probability)
        p_value = float(-np.expm1(2.0 * np.log1p(-min(p_g, p_b)))) if min(p_g, p_b) < 1 else 1.0
        method = "G-test + exact binomial (rare atoms)"
    if impossible > 0:
        p_value = 0.0
    z = _p_to_z(p_value)
    passed = z <= threshold
    reason = "" if passed else (f"{int(impossible)} counts on impossible values" if impossible
                                else f"p = {p_value:.3g} < {norm.sf(threshold):.2g}")
    return row("distribution", direction, obs.name, verdict="passed" if passed else "failed",
               reason=reason, estimate=g, expected=dof, z=z, threshold=threshold, trajectories=n,
               statistic=g, dof=dof, p_value=p_value, method=method)


# --- exponential averages --------------------------------------------------------------------
#: fewest effective samples (Kish, of the weights e^{-beta x}) an exponential average is judged on
MIN_EFFECTIVE_SAMPLES = 10.0
#: a free-energy check must be able to see a deviation of this many k_B T (threshold x stderr)
DETECTABLE_KT = 2.0
#: the precision of beta dF that ``trajectories_needed`` is computed for (k_B T)
PRECISION_KT = 0.1
#: an exponential average needing more than this many times the sample is inconclusive, whatever z
WIDE_MARGIN = 100.0


def _log_weight_moments(a, log_weights):
    """ln<e^a> and ln<e^{2a}> under normalised log weights."""
    return logsumexp(a + log_weights), logsumexp(2.0 * a + log_weights)


def exponential_diagnostics(obs: Observable, beta) -> dict:
    """Diagnostics of -ln<e^{-beta x}>/beta from the sample (and the exact law where known).

    effective_sample_size: Kish (sum w)^2 / sum w^2 of the weights w = e^{-beta x} of the sample;
    relative_variance: Var(e^{-beta x}) / <e^{-beta x}>^2 (exact law when given, else the largest
    of the sample's and the Gaussian-work e^{beta^2 var x} - 1 and e^{2 beta W_diss} - 1);
    bias: Gore, Ritort & Bustamante leading order relative_variance / (2 n beta);
    trajectories_needed: n for a stderr of ``PRECISION_KT`` / beta.
    """
    a = -beta * obs.values
    with np.errstate(divide="ignore"):
        log_counts = np.log(obs.counts.astype(float))
    first, second = _log_weight_moments(a, log_counts)
    ess = float(np.exp(2.0 * first - second))
    if obs.has_law:
        first, second = _log_weight_moments(a, obs.log_probability_exact
                                            - logsumexp(obs.log_probability_exact))
        log_relative = second - 2.0 * first
    else:
        # a sample does not see its own rare tail: also take the Gaussian-work values
        # e^{beta^2 var(x)} - 1 and e^{2 beta W_diss} - 1, W_diss = <x> + ln<e^{-beta x}>/beta
        # (Jarzynski 2006), from the bulk of the sample
        first, second = first - np.log(obs.n), second - np.log(obs.n)
        mean = float(np.dot(obs.counts, obs.values) / obs.n)
        variance = float(np.dot(obs.counts, (obs.values - mean) ** 2) / obs.n)
        log_relative = max(second - 2.0 * first, 2.0 * beta * (mean + first / beta),
                           beta**2 * variance)
    relative_variance = float(max(np.expm1(min(log_relative, 700.0)), 0.0))
    return {"effective_sample_size": ess, "relative_variance": relative_variance,
            "bias": relative_variance / (2.0 * obs.n * beta),
            "trajectories_needed": float(np.ceil(relative_variance / PRECISION_KT**2))}


def power_problem(stderr, bias, beta, ess=np.inf, threshold=Z_THRESHOLD) -> str:
    """Why a free-energy estimate cannot be judged ('' when it can): too few effective samples,
    a bias as large as the stderr, or an interval too wide to see a deviation of DETECTABLE_KT."""
    if not stderr > 0:
        return "no sampled fluctuation (standard error 0): the sample cannot test the estimate"
    if ess < MIN_EFFECTIVE_SAMPLES:
        return (f"dominated by a few samples (effective sample size {ess:.3g} < "
                f"{MIN_EFFECTIVE_SAMPLES:g})")
    if np.isfinite(bias) and abs(bias) >= stderr:
        return f"estimated bias {bias:.3g} >= its stderr {stderr:.3g}"
    if not threshold * beta * stderr <= DETECTABLE_KT:
        return (f"no power: {threshold:g} stderr = {threshold * stderr:.3g} exceeds "
                f"{DETECTABLE_KT:g} k_B T = {DETECTABLE_KT / beta:.3g}")
    return ""


def _with_null_floor(est: Estimate, relative_variance, beta, exact: bool):
    """The stderr of -ln<e^{-beta x}>/beta: with the exact law, exactly the null value
    sqrt(relative_variance / n) / beta (a z-test never divides by the sample stderr of a
    heavy-tailed estimator); without it, at least that conservative estimate.

    e^{-beta x} can be heavy-tailed (its mean carried by rare trajectories); a run that has not
    reached that tail underestimates its own error and would false-alarm.
    """
    null_stderr = np.sqrt(relative_variance / est.n) / beta
    return Estimate.normal(est.value, null_stderr if exact else max(est.stderr, null_stderr), est.n)


def _exponential_check(check, direction, obs: Observable, beta, expected, threshold):
    expected = np.nan if expected is None else float(expected)
    try:
        est = theorems.jarzynski(obs.values, obs.counts, beta=beta)
    except ValueError as error:
        return _cannot_estimate(check, direction, obs.name, error, obs.n)
    diagnostics = exponential_diagnostics(obs, beta)
    est = _with_null_floor(est, diagnostics["relative_variance"], beta, obs.has_law)
    problem = power_problem(est.stderr, diagnostics["bias"], beta,
                            diagnostics["effective_sample_size"], threshold)
    if diagnostics["trajectories_needed"] > WIDE_MARGIN * obs.n:
        problem = (f"trajectories_needed = {diagnostics['trajectories_needed']:.3g} exceeds the "
                   f"{obs.n} trajectories by more than {WIDE_MARGIN:g}x: the sample cannot contain "
                   "the paths that carry the average")
    return _unless(problem, _judged(check, direction, obs.name, est, expected, est.z(expected)
                                    if np.isfinite(expected) else np.nan, threshold, **diagnostics))


def _unless(problem, judged: dict) -> dict:
    """The judged row, made inconclusive by a power problem or by a missing expected value."""
    if problem:
        judged.update(verdict="inconclusive", passed=False, reason=problem)
    elif not np.isfinite(judged["expected"]):
        judged.update(verdict="inconclusive", passed=False,
                      reason="no exact free energy given: estimate only")
    return judged


def _has_generating_function(obs: Observable) -> bool:
    return obs.log_generating_function is not None


def generating_average_check(check, direction, obs: Observable, s, expected_log,
                             threshold=Z_THRESHOLD, **extra) -> dict:
    """<e^{-s x}> of the sample against its exact value e^{expected_log}, judged on the ratio
    R = sample average / e^{expected_log} with the EXACT null stderr sqrt(v / n),
    v = G(2s)/G(s)^2 - 1 from the exact generating function (never a sample stderr).

    The row shows -ln(average) / s (the free energy for Jarzynski at s = beta, -ln<e^{-sigma}> for
    the integral fluctuation theorem) against -expected_log / s.  A deterministic observable passes
    when every sample sits on its exact value; where the exact relative stderr or the skewness of
    the sample mean is too large (``exponential.usable``) the row is inconclusive: the sample
    cannot contain the paths that carry the average (``trajectories_needed`` says how many would).
    """
    n = obs.n
    log_g = obs.exact_log_generating
    log_sum = obs.sample_log_exponential_sum(s)
    expected = 0.0 - float(expected_log) / s
    if log_sum is None or n < 1:
        return row(check, direction, obs.name, verdict="inconclusive", expected=expected,
                   trajectories=n, reason=f"no exponential sum at s = {s:g} was accumulated", **extra)
    estimate = -(log_sum - np.log(n)) / s
    mean, variance = _exact(obs)
    if is_deterministic(obs, mean, variance):
        off = _samples_off(obs, mean)
        matches = abs(expected - mean) <= exponential.ROUND_OFF * value_scale(obs, mean)
        verdict = "passed" if off == 0 and matches else "failed"
        reason = ("no sampled fluctuation: the exact variance is 0 and every sample sits on the "
                  "exact value" if verdict == "passed" else
                  f"exact variance 0 but {off} of {n} samples differ from {mean:.6g}" if off
                  else f"the observable is {mean:.6g} on every trajectory: -ln<e^(-s x)>/s cannot "
                       f"be {expected:.6g}")
        return row(check, direction, obs.name, verdict=verdict, reason=reason, estimate=estimate,
                   expected=expected, stderr=0.0, z=0.0 if verdict == "passed" else np.inf,
                   threshold=threshold, trajectories=n, exponent=s, **extra)
    v = float(exponential.relative_variance(log_g, s)[0])
    needed = exponential.trajectories_needed(log_g, s)
    relative_stderr = float(np.sqrt(v / n))
    stderr = relative_stderr / abs(s)
    diagnostics = {"exponent": s, "relative_variance": v, "trajectories_needed": needed, **extra}
    if not exponential.usable(log_g, s, n)[0]:
        return row(check, direction, obs.name, verdict="inconclusive", estimate=estimate,
                   expected=expected, stderr=stderr, trajectories=n,
                   reason=(f"trajectories_needed = {needed:.3g} > {n} trajectories (exact relative "
                           f"variance of e^(-{s:g} x) = {v:.3g}): the sample cannot contain the "
                           "paths that carry the average"), **diagnostics)
    ratio = float(np.expm1(log_sum - np.log(n) - float(expected_log)))
    z = -np.sign(s) * ratio / relative_stderr
    est = Estimate.normal(estimate, stderr, n)
    return _judged(check, direction, obs.name, est, expected, z, threshold,
                   p_value=float(2.0 * norm.sf(abs(z))), method="exact null stderr from G(2s)",
                   **diagnostics)


def generating_distribution_check(direction, obs: Observable, threshold=Z_THRESHOLD) -> dict:
    """The law of x without a lattice: the sample's <e^{-s x}> at the accumulated s values where the
    sample has power (``exponential.usable``) against the exact G(s), one chi-square with the exact
    covariance n Cov(R_i, R_j) = G(s_i + s_j) / (G(s_i) G(s_j)) - 1 of the ratios R = average / G
    (directions of the covariance below 1e-9 of its largest eigenvalue dropped: they would only
    measure round-off).  ``estimate`` is the statistic, ``expected`` its null mean (the dof)."""
    n = obs.n
    log_g = obs.exact_log_generating
    mean, variance = _exact(obs)
    if is_deterministic(obs, mean, variance):
        return _cannot_vary("distribution", direction, obs, mean, n)
    s = np.array([] if obs.exponents is None else obs.exponents[np.isfinite(obs.log_exponential_sums)])
    s = s[exponential.usable(log_g, s, n)] if s.size else s
    if s.size == 0:
        return row("distribution", direction, obs.name, verdict="inconclusive", trajectories=n,
                   reason=f"no accumulated s value has power at {n} trajectories")
    log_sums = np.array([obs.sample_log_exponential_sum(t) for t in s])
    log_gs = np.asarray(log_g(s), float)
    ratio = np.expm1(log_sums - np.log(n) - log_gs)
    pairs = np.asarray(log_g((s[:, None] + s[None, :]).ravel()), float).reshape(len(s), len(s))
    covariance = np.expm1(pairs - log_gs[:, None] - log_gs[None, :])
    eigenvalues, vectors = np.linalg.eigh(covariance)
    kept = eigenvalues > 1e-9 * eigenvalues.max()
    projected = vectors[:, kept].T @ ratio
    statistic = float(n * np.sum(projected**2 / eigenvalues[kept]))
    dof = int(kept.sum())
    p_value = float(chi2_distribution.sf(statistic, dof))
    z = _p_to_z(p_value)
    passed = z <= threshold
    return row("distribution", direction, obs.name, verdict="passed" if passed else "failed",
               reason="" if passed else f"p = {p_value:.3g} < {norm.sf(threshold):.2g}",
               estimate=statistic, expected=dof, z=z, threshold=threshold, trajectories=n,
               statistic=statistic, dof=dof, p_value=p_value,
               method="generating function at s = " + ", ".join(f"{t:.3g}" for t in s))


def jarzynski_check(direction, work: Observable, beta, expected_free_energy,
                    threshold=Z_THRESHOLD) -> dict:
    """Jarzynski: the free-energy estimate -ln<e^{-beta W}>/beta of this direction against its
    exact free-energy change; with the exact work law, the stderr is at least the exact null one.
    Inconclusive (whatever z) when the estimate cannot be trusted: see ``power_problem``.  With an
    exact generating function (any spectrum, no histogram needed): ``generating_average_check``."""
    if _has_generating_function(work):
        return generating_average_check("jarzynski", direction, work, beta,
                                        -beta * float(expected_free_energy), threshold)
    return _exponential_check("jarzynski", direction, work, beta, expected_free_energy, threshold)


def integral_ft_check(direction, sigma: Observable, expected_log_average: float,
                      threshold=Z_THRESHOLD) -> dict:
    """Integral fluctuation theorem: the estimate -ln<e^{-sigma}> against the exact
    -ln<e^{-sigma}> = -``expected_log_average`` (0 when <e^{-sigma}> = 1 holds exactly)."""
    if _has_generating_function(sigma):
        return generating_average_check("integral_ft", direction, sigma, 1.0,
                                        float(expected_log_average), threshold)
    return _exponential_check("integral_ft", direction, sigma, 1.0, 0.0 - float(expected_log_average),
                              threshold)


# --- both directions -------------------------------------------------------------------------
#: bootstrap replicates of the BAR bias estimate (fixed seed: verdicts are reproducible)
BAR_BOOTSTRAP = 16


def bar_check(forward_work: Observable, reverse_work: Observable, beta, expected_free_energy,
              threshold=Z_THRESHOLD) -> dict:
    """Bennett acceptance ratio dF from both directions against the exact dF (None: no
    expected value, the row reports the estimate and its diagnostics).

    Diagnostics: overlap (MBAR scalar), effective_sample_size (the smaller Kish size of the Fermi
    weights of either direction), bias (bootstrap), trajectories_needed (per direction, for a
    stderr of PRECISION_KT / beta).  Inconclusive when ``power_problem`` finds one.
    """
    n = min(forward_work.n, reverse_work.n)
    expected = np.nan if expected_free_energy is None else float(expected_free_energy)
    try:
        est = theorems.bar(forward_work.values, forward_work.counts, reverse_work.values,
                           reverse_work.counts, beta=beta, bootstrap=0)
        bias = theorems.bar_bias(forward_work.values, forward_work.counts, reverse_work.values,
                                 reverse_work.counts, beta=beta, replicates=BAR_BOOTSTRAP)
    except ValueError as error:
        return _cannot_estimate("bar", "both", "work", error, n, expected=expected)
    ess = theorems.bar_effective_sample_size(forward_work.values, forward_work.counts,
                                             reverse_work.values, reverse_work.counts,
                                             beta=beta, free_energy=est.value)
    diagnostics = {"overlap": est.overlap, "effective_sample_size": ess, "bias": bias,
                   "trajectories_needed": float(np.ceil(n * (beta * est.stderr / PRECISION_KT) ** 2))}
    z = est.z(expected) if np.isfinite(expected) else np.nan
    return _unless(power_problem(est.stderr, bias, beta, ess, threshold),
                   _judged("bar", "both", "work", est, expected, z, threshold, **diagnostics))


def crooks_checks(forward_work: Observable, reverse_work: Observable, beta, expected_free_energy,
                  threshold=Z_THRESHOLD, min_count=50, bins=None) -> list[dict]:
    """Two rows: ``crooks`` (dF from the log-ratios with slope beta, against dF) and
    ``crooks_linearity`` (chi-square of every populated log-ratio about the line beta (W - dF):
    statistic, dof, p_value).  With ``expected_free_energy`` None the line goes through the
    fitted dF (one degree of freedom fewer).  ``bins``: edges for continuous work (None: atoms)."""
    n = min(forward_work.n, reverse_work.n)
    try:
        fit = theorems.crooks(forward_work.values, forward_work.counts, reverse_work.values,
                              reverse_work.counts, beta=beta, min_count=min_count, bins=bins)
    except ValueError as error:
        return [_cannot_estimate(check, "both", "work", error, n)
                for check in ("crooks", "crooks_linearity")]
    est = fit.free_energy
    expected = np.nan if expected_free_energy is None else float(expected_free_energy)
    crooks = _unless(power_problem(est.stderr, np.nan, beta, threshold=threshold),
                     _judged("crooks", "both", "work", est, expected,
                             est.z(expected) if np.isfinite(expected) else np.nan, threshold,
                             bins=fit.work.size))
    chi2, dof, p_value = fit.chi2(est.value if np.isnan(expected) else expected)
    if np.isnan(expected):
        dof -= 1
        p_value = float(chi2_distribution.sf(chi2, dof)) if dof > 0 else np.nan
    if not dof > 0:
        return [crooks, row("crooks_linearity", "both", "work", verdict="inconclusive", trajectories=n,
                            reason="one populated work value: no line to test", bins=fit.work.size)]
    z = _p_to_z(p_value)
    passed = z <= threshold
    linearity = row("crooks_linearity", "both", "work", verdict="passed" if passed else "failed",
                    reason="" if passed else f"p = {p_value:.3g} < {norm.sf(threshold):.2g}",
                    estimate=chi2, expected=dof, z=z, threshold=threshold, trajectories=n,
                    statistic=chi2, dof=dof, p_value=p_value, bins=fit.work.size)
    return [crooks, linearity]


def _shared_exponents(first: Observable, second: Observable, beta):
    """Pairs (s, beta - s): s accumulated for ``first``, beta - s (to 1e-9) for ``second``."""
    pairs = []
    a = np.array([] if first.exponents is None else first.exponents, float)
    b = np.array([] if second.exponents is None else second.exponents, float)
    for s in a:
        hit = b[np.abs(b - (beta - s)) <= 1e-9 * max(1.0, abs(beta))]
        if hit.size:
            pairs.append((float(s), float(hit[0])))
    return pairs


def _log_ratio_covariance(obs: Observable, s) -> np.ndarray:
    """n Cov(ln G_hat(s_i), ln G_hat(s_j)) = G(s_i + s_j) / (G(s_i) G(s_j)) - 1 (exact G)."""
    s = np.asarray(s, float)
    log_g = obs.exact_log_generating
    log_gs = np.asarray(log_g(s), float)
    pairs = np.asarray(log_g((s[:, None] + s[None, :]).ravel()), float).reshape(len(s), len(s))
    return np.expm1(pairs - log_gs[:, None] - log_gs[None, :])


def _deterministic_work(forward_work: Observable, reverse_work: Observable) -> bool:
    return all(is_deterministic(w, *_exact(w)) for w in (forward_work, reverse_work))


def generating_bar_check(forward_work: Observable, reverse_work: Observable, beta,
                         expected_free_energy, threshold=Z_THRESHOLD) -> dict:
    """BAR off the lattice: the midpoint (simple overlap, Bennett family with equal weights)
    estimate dF = [ln G_R(beta/2) - ln G_F(beta/2)] / beta from both directions' exponential sums
    at s = beta/2, against the exact dF with the EXACT null stderr
    sqrt(v_F / n_F + v_R / n_R) / beta, v = G(beta) / G(beta/2)^2 - 1 of each direction.
    Inconclusive where either direction cannot judge s = beta/2 (``exponential.usable``) or the
    interval cannot see a deviation of DETECTABLE_KT (``power_problem``)."""
    n = min(forward_work.n, reverse_work.n)
    expected = np.nan if expected_free_energy is None else float(expected_free_energy)
    method = ("midpoint (simple overlap) estimator at s = beta/2, the work not being on a lattice: "
              "exact null stderr from G(beta)")
    pair = [p for p in _shared_exponents(forward_work, reverse_work, beta) if abs(p[0] - p[1]) <= 1e-9 * max(1.0, beta)]
    if not pair:
        return row("bar", "both", "work", verdict="inconclusive", expected=expected, trajectories=n,
                   reason=f"no exponential sum at s = beta/2 = {beta / 2:g} in both directions",
                   method=method)
    s_f, s_r = pair[0]
    logs = [obs.sample_log_exponential_sum(s) - np.log(obs.n)
            for obs, s in ((forward_work, s_f), (reverse_work, s_r))]
    estimate = float(logs[1] - logs[0]) / beta
    v = [float(exponential.relative_variance(obs.exact_log_generating, s)[0])
         for obs, s in ((forward_work, s_f), (reverse_work, s_r))]
    stderr = float(np.sqrt(v[0] / forward_work.n + v[1] / reverse_work.n)) / beta
    if _deterministic_work(forward_work, reverse_work) and np.isfinite(expected):
        tolerance = exponential.ROUND_OFF * max(value_scale(forward_work), value_scale(reverse_work))
        passed = abs(estimate - expected) <= tolerance
        return row("bar", "both", "work", verdict="passed" if passed else "failed",
                   reason=("no sampled fluctuation: the work is deterministic; " if passed else
                           f"the work is deterministic and the estimate is not dF; ") + method,
                   estimate=estimate, expected=expected, stderr=0.0, z=0.0 if passed else np.inf,
                   threshold=threshold, trajectories=n, exponent=s_f, method=method)
    est = Estimate.normal(estimate, stderr, n)
    z = est.z(expected) if np.isfinite(expected) else np.nan
    judged = _judged("bar", "both", "work", est, expected, z, threshold, exponent=s_f,
                     relative_variance=max(v), method=method,
                     p_value=float(2.0 * norm.sf(abs(z))) if np.isfinite(z) else np.nan)
    problem = power_problem(stderr, np.nan, beta, threshold=threshold)
    if not all(exponential.usable(obs.exact_log_generating, s, obs.n)[0]
               for obs, s in ((forward_work, s_f), (reverse_work, s_r))):
        problem = (f"the sample cannot judge <e^(-{s_f:g} W)> in both directions (exact relative "
                   f"variances {v[0]:.3g}, {v[1]:.3g}): the paths that carry it are too rare")
    judged = _unless(problem and f"{problem} ({method})", judged)
    judged["reason"] = f"{judged['reason']} ({method})" if judged["reason"] and not problem else (
        judged["reason"] or method)
    return judged


def generating_crooks_check(forward_work: Observable, reverse_work: Observable, beta,
                            expected_free_energy, threshold=Z_THRESHOLD) -> dict:
    """Crooks off the lattice, for generating functions: G_R(s) = e^{beta dF} G_F(beta - s).  Over
    the s where the reverse sums hold s and the forward sums beta - s, both usable
    (``exponential.usable``), the statistics ln G_R_hat(s) - ln G_F_hat(beta - s) - beta dF, one
    chi-square with their exact covariance (each direction's from its exact G,
    ``_log_ratio_covariance``; the directions independent; directions of the covariance below
    1e-9 of its largest eigenvalue dropped).  ``estimate`` is the statistic, ``expected`` the
    dof."""
    n = min(forward_work.n, reverse_work.n)
    deterministic = _deterministic_work(forward_work, reverse_work)
    pairs = [(s, t) for s, t in _shared_exponents(reverse_work, forward_work, beta)
             if deterministic or exponential.usable(reverse_work.exact_log_generating, s, reverse_work.n)[0]
             and exponential.usable(forward_work.exact_log_generating, t, forward_work.n)[0]]
    if not pairs or expected_free_energy is None:
        return row("crooks", "both", "work", verdict="inconclusive", trajectories=n,
                   reason="no exact free energy given" if pairs else
                   "no pair of accumulated s, beta - s with power in both directions")
    s_r = np.array([p[0] for p in pairs])
    s_f = np.array([p[1] for p in pairs])
    log_r = np.array([reverse_work.sample_log_exponential_sum(s) for s in s_r]) - np.log(reverse_work.n)
    log_f = np.array([forward_work.sample_log_exponential_sum(s) for s in s_f]) - np.log(forward_work.n)
    deviation = log_r - log_f - beta * float(expected_free_energy)
    if deterministic:
        # no sampled fluctuation: both sides are e^{-s W} of one value, equal within round-off
        tolerance = exponential.ROUND_OFF * beta * max(value_scale(forward_work), value_scale(reverse_work))
        off = float(np.abs(deviation).max())
        passed = off <= tolerance
        return row("crooks", "both", "work", verdict="passed" if passed else "failed",
                   reason=("no sampled fluctuation: the work is deterministic and ln G_R(s) - "
                           f"ln G_F(beta - s) - beta dF = {off:.3g}"), estimate=off, expected=0.0,
                   z=0.0 if passed else np.inf, threshold=threshold, trajectories=n,
                   method="generating functions, deterministic work")
    covariance = (_log_ratio_covariance(reverse_work, s_r) / reverse_work.n
                  + _log_ratio_covariance(forward_work, s_f) / forward_work.n)
    eigenvalues, vectors = np.linalg.eigh(covariance)
    kept = eigenvalues > 1e-9 * eigenvalues.max()
    projected = vectors[:, kept].T @ deviation
    statistic = float(np.sum(projected**2 / eigenvalues[kept]))
    dof = int(kept.sum())
    p_value = float(chi2_distribution.sf(statistic, dof))
    z = _p_to_z(p_value)
    passed = z <= threshold
    return row("crooks", "both", "work", verdict="passed" if passed else "failed",
               reason=("G_R(s) = e^(beta dF) G_F(beta - s) at s = "
                       + ", ".join(f"{s:.3g}" for s in s_r)
                       + ("" if passed else f": p = {p_value:.3g} < {norm.sf(threshold):.2g}")),
               estimate=statistic, expected=dof, z=z, threshold=threshold, trajectories=n,
               statistic=statistic, dof=dof, p_value=p_value,
               method="generating functions, exact covariance")


# --- expectation values and exact identities -------------------------------------------------
def bonferroni_threshold(m: int, threshold=Z_THRESHOLD) -> float:
    """Max-|z| threshold over m z-scores at the family false-alarm rate 2 P(Z > threshold)
    (Bonferroni: holds whatever the correlation; 201 times x 3 components -> 6.1)."""
    return float(norm.isf(norm.sf(threshold) / max(m, 1)))


def expectation_check(e: Expectation) -> dict:
    """One verdict on the largest |z| over every output time and component whose stderr is not
    zero, at the Bonferroni threshold; the row shows that worst (time, component).  A component
    with no sampled spread that differs from its exact value makes the row inconclusive (too few
    trajectories to see its fluctuations) unless another one fails."""
    mean, stderr, exact = (np.asarray(a, dtype=float) for a in (e.mean, e.stderr, e.exact))
    diff = mean - exact
    random = stderr > 1e-10
    unseen = ~random & (np.abs(diff) > 1e-9 * np.maximum(1.0, np.abs(exact)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(random, diff / stderr, 0.0)
    worst = np.unravel_index(np.argmax(np.abs(z)), z.shape)
    m = int(random.sum())
    threshold = bonferroni_threshold(m)
    est = Estimate.normal(mean[worst], stderr[worst], e.n)
    judged = _judged(e.check, "forward", e.observable, est, exact[worst], z[worst], threshold,
                     z_scores=m, time=float(e.times[worst[0]]), component=e.components[worst[1]])
    if judged["verdict"] == "passed" and unseen.any():
        judged.update(verdict="inconclusive", passed=False,
                      reason=f"{int(unseen.sum())} values without sampled spread differ from exact "
                             "(too few trajectories)")
    return judged


def exact_count_check(c: ExactCount) -> dict:
    """An identity that must hold on every trajectory: passes only with no violation."""
    violations = int(c.violations)
    passed = violations == 0
    return row(c.check, "forward", c.observable, verdict="passed" if passed else "failed",
               reason="" if passed else f"{violations} of {c.n} trajectories violate it",
               estimate=violations, expected=0.0, stderr=0.0, ci_low=violations,
               ci_high=violations, z=0.0 if passed else np.inf, threshold=0.0, trajectories=c.n)


def second_law_check(direction, observable, entropy_production_series, times,
                     tolerance=1e-9, binding=True) -> dict:
    """Second law of one heat bookkeeping: its (exact, deterministic) entropy production
    Sigma(t) = Delta S - sum_b beta_b Q_b must stay >= 0 at every time.  ``binding``: the heat is the
    one the baths receive, so a negative Sigma is a failure of the exact answers; otherwise (an
    ensemble bookkeeping such as a local heat in a Floquet-resolved steady state) a negative Sigma
    is a property of that bookkeeping, reported as "not applicable" (informational) with the time
    and value.
    ``tolerance`` absorbs quadrature rounding."""
    sigma = np.asarray(entropy_production_series, dtype=float)
    times = np.asarray(times, dtype=float)
    finite = np.isfinite(sigma)
    if not finite.any():
        return not_applicable("second_law", direction, observable, "no entropy production given")
    worst = int(np.argmin(np.where(finite, sigma, np.inf)))
    holds = bool(sigma[worst] >= -tolerance)
    reason = "" if holds else f"entropy production {sigma[worst]:.4g} < 0 at t = {times[worst]:.4g}: "
    if holds:
        verdict = "passed"
    elif binding:
        verdict, reason = "failed", reason + "the heat the baths receive violates the second law"
    else:
        verdict, reason = "not applicable", reason + ("this bookkeeping's heat is not the heat the "
                                                      "baths receive (informational: no test of the run)")
    return row("second_law", direction, observable, verdict=verdict, reason=reason,
               estimate=sigma[worst], expected=0.0, stderr=0.0, z=0.0, threshold=0.0,
               time=float(times[worst]))


#: the engine-efficiency z-test needs the hot heat's mean well away from 0: its stderr at most this
#: fraction of |<Q_hot>| (else the ratio of means is not yet normal)
MAX_RELATIVE_DENOMINATOR_ERROR = 0.1


def engine_efficiency_check(direction, e: EngineEfficiency, threshold=Z_THRESHOLD) -> dict:
    """-<W>/<Q_hot> against its exact value (a mean-type z-test).

    The estimate is the ratio of the sample means; its ``stderr`` is the delta-method one from the
    sample (co)variances of W and Q_hot -- a sample quantity, reported, not used for the verdict.
    The z-score divides by the delta-method standard error at the EXACT moments (Var W, Var Q,
    Cov(W, Q), <W>, <Q>), so a sample that happens to vary little cannot pass a wrong value.  Both
    are asymptotic (the ratio is normal when the stderr of the mean hot heat is small against
    |<Q_hot>|): above ``MAX_RELATIVE_DENOMINATOR_ERROR`` the row is inconclusive; with no exact
    moments it is not applicable."""
    name, n = "engine_efficiency", e.n
    observable = f"-work/heat_{e.hot}"
    if e.sums is None:
        return not_applicable(name, direction, observable, "the sampling keeps no joint moments of W "
                              "and Q_hot (heat off a lattice, chemical work or moment-only sampling)")
    if n < 2:
        return row(name, direction, observable, verdict="inconclusive", trajectories=n,
                   reason="fewer than 2 trajectories")
    sum_w, sum_q, sum_ww, sum_qq, sum_wq = e.sums
    w, q = sum_w / n, sum_q / n
    var_w = max(sum_ww - n * w * w, 0.0) / (n - 1)
    var_q = max(sum_qq - n * q * q, 0.0) / (n - 1)
    cov = (sum_wq - n * w * q) / (n - 1)

    def delta_stderr(mw, mq, vw, vq, c):
        # eta = -mw / mq: gradient (-1/mq, mw/mq^2)
        variance = (vw / mq**2 + mw**2 * vq / mq**4 - 2.0 * mw * c / mq**3) / n
        return float(np.sqrt(max(variance, 0.0)))

    estimate = -w / q if q != 0 else np.nan
    stderr = delta_stderr(w, q, var_w, var_q, cov) if q != 0 else np.nan
    if e.exact is None:
        return row(name, direction, observable, verdict="not applicable", estimate=estimate,
                   stderr=stderr, trajectories=n, reason="no exact moments of W and "
                   "Q_hot (estimate with its sample delta-method stderr only)")
    mw, mq, vw, vq, c = e.exact
    if mq == 0:
        return row(name, direction, observable, verdict="not applicable", estimate=estimate,
                   stderr=stderr, trajectories=n,
                   reason="the exact mean hot heat is 0 (no efficiency)")
    expected = -mw / mq
    relative = float(np.sqrt(max(vq, 0.0) / n)) / abs(mq)
    if relative > MAX_RELATIVE_DENOMINATOR_ERROR:
        return row(name, direction, observable, verdict="inconclusive", estimate=estimate,
                   expected=expected, stderr=stderr, trajectories=n,
                   reason=f"the mean hot heat is known to {100 * relative:.3g}% only (> "
                          f"{100 * MAX_RELATIVE_DENOMINATOR_ERROR:g}%): the ratio of means is not "
                          "normal yet; sample more trajectories")
    null = delta_stderr(mw, mq, vw, vq, c)
    if null <= 1e-12 * max(1.0, abs(expected)):
        # W is proportional to Q_hot on every trajectory: the ratio is exact, round-off aside
        exact = abs(estimate - expected) <= 1e-9 * max(1.0, abs(expected))
        return row(name, direction, observable, verdict="passed" if exact else "failed",
                   estimate=estimate, expected=expected, stderr=stderr, z=0.0 if exact else np.inf,
                   trajectories=n, reason="" if exact else "W / Q_hot is fixed exactly and differs")
    z = (estimate - expected) / null
    judged = _judged(name, direction, observable, Estimate.normal(estimate, stderr, n), expected, z,
                     threshold)
    judged["reason"] = (judged["reason"] + "; " if judged["reason"] else "") + (
        "z uses the delta-method stderr at the exact moments; the stderr column is the sample one")
    return judged
