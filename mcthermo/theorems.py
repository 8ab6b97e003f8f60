"""Free-energy estimators and fluctuation-theorem fits, on counts (exact lattices) or samples.

Conventions: work in energy units, beta = 1/k_B T (hbar = k_B = 1).  ``forward`` work W_F of the
protocol A -> B, ``reverse`` work W_R of the time-reversed protocol B -> A.  Jarzynski:
<e^{-beta W_F}> = e^{-beta dF}; Crooks: P_F(W) / P_R(-W) = e^{beta (W - dF)}; dF = F_B - F_A (the
grand-potential change for open systems).  Every estimator takes (values, counts) — counts None
for per-trajectory samples — and returns a ``FreeEnergyEstimate`` in energy units.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import chi2 as chi2_distribution

from .stats import Estimate, as_distribution, log_mean_exp, log_sum_exp


class ConvergenceWarning(UserWarning):
    """The sample is too small for the estimate to have converged."""


class EstimatorError(ValueError):
    """The estimator has no meaningful answer for these data (instead of a plausible number)."""


@dataclass(frozen=True)
class FreeEnergyEstimate(Estimate):
    """A free-energy estimate.  ``ci_low``/``ci_high`` come from ``interval`` ("normal" or
    "bootstrap" percentile); ``bias`` is the leading-order large-sample bias (estimate - truth);
    ``overlap`` the forward/reverse overlap (BAR, 0 none .. 1 complete)."""

    bias: float = np.nan
    overlap: float = np.nan
    interval: str = "normal"


def _check_beta(beta):
    if not (isinstance(beta, (int, float, np.integer, np.floating)) and not isinstance(beta, bool)
            and np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and positive (got {beta!r})")


def _unique(values, counts):
    """Collapse samples to (distinct values, integer counts): bootstraps then resample counts."""
    values, weights, n = as_distribution(values, counts)
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, np.bincount(inverse, weights).astype(np.int64), n


def _with_interval(estimate: FreeEnergyEstimate, replicates, level):
    if replicates is None:
        return estimate
    replicates = replicates[np.isfinite(replicates)]
    low, high = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return FreeEnergyEstimate(estimate.value, estimate.stderr, float(low), float(high), estimate.n,
                              level, estimate.bias, estimate.overlap, "bootstrap")


# --- exponential averaging (Jarzynski) ---------------------------------------------------------
def _exp_estimate(values, counts, beta):
    """(-ln<e^{-beta W}>/beta, its delta-method stderr, relative variance of e^{-beta W})."""
    log_mean, log_stderr, n = log_mean_exp(values, counts, scale=-beta)
    return -log_mean / beta, log_stderr / beta, log_stderr**2 * n


def exponential_average(values, counts=None, *, beta: float, bootstrap: int = 200,
                        level: float = 0.95, seed: int = 0) -> FreeEnergyEstimate:
    """Jarzynski (EXP) free-energy estimate dF = -ln<e^{-beta W}>/beta from forward work.

    Pass reverse work to estimate -dF.  stderr: delta method; ``bias``: Gore, Ritort & Bustamante
    (2003) leading order Var(e^{-beta W}) / (2 n beta <e^{-beta W}>^2) (the estimator overestimates
    dF by about this much); interval: percentile bootstrap over multinomial resamples of the counts
    (``bootstrap`` replicates; 0 for the normal interval).  Warns (ConvergenceWarning) when
    n < e^{beta W_diss} with W_diss = <W> - dF_estimate (Jarzynski 2006: the rare trajectories
    that dominate the average are then unlikely to have been sampled).
    """
    _check_beta(beta)
    values, counts, n = _unique(values, counts)
    value, stderr, relative_variance = _exp_estimate(values, counts, beta)
    dissipation = float(np.dot(counts, values) / n - value)
    if beta * dissipation > np.log(n):
        warnings.warn(f"exponential average over {n} trajectories with dissipated work "
                      f"{dissipation:.4g} (beta W_diss = {beta * dissipation:.3g}): about "
                      f"e^(beta W_diss) = {np.exp(min(beta * dissipation, 700)):.3g} are needed",
                      ConvergenceWarning, stacklevel=2)
    normal = Estimate.normal(value, stderr, n, level)
    estimate = FreeEnergyEstimate(normal.value, normal.stderr, normal.ci_low, normal.ci_high, n,
                                  level, bias=relative_variance / (2 * n * beta))
    replicates = None
    if bootstrap:
        rng = np.random.default_rng(seed)
        p = counts / n
        replicates = np.array([_exp_estimate(values[c > 0], c[c > 0], beta)[0]
                               for c in rng.multinomial(n, p, size=bootstrap)])
    return _with_interval(estimate, replicates, level)


# --- Bennett acceptance ratio -------------------------------------------------------------------
def _bar_terms(forward, reverse, beta, free_energy):
    """Log of the two sides of the BAR equation and the Fermi factors (Shirts et al. 2003)."""
    (wf, cf, nf), (wr, cr, nr) = forward, reverse
    shift = np.log(nf / nr) - beta * free_energy
    f_forward = expit(-(beta * wf + shift))   # 1 / (1 + e^{beta W_F + M - beta dF})
    f_reverse = expit(-(beta * wr - shift))   # 1 / (1 + e^{beta W_R - M + beta dF})
    return f_forward, f_reverse


def _bar_solve(forward, reverse, beta):
    """Root of ln sum_F c f_F - ln sum_R c f_R (increasing in dF) by bracketing + Brent."""
    (wf, cf, nf), (wr, cr, nr) = forward, reverse

    log_cf, log_cr = np.log(cf), np.log(cr)

    def imbalance(free_energy):
        shift = np.log(nf / nr) - beta * free_energy
        left = log_sum_exp(log_cf - np.logaddexp(0.0, beta * wf + shift))
        right = log_sum_exp(log_cr - np.logaddexp(0.0, beta * wr - shift))
        return left - right

    low = min(wf.min(), -wr.max())
    high = max(wf.max(), -wr.min())
    span = max(high - low, 1.0 / beta)
    low, high = low - span, high + span
    for _ in range(60):
        if imbalance(low) < 0 < imbalance(high):
            break
        low, high = low - span, high + span
        span *= 2
    else:
        raise EstimatorError("BAR did not bracket a root: the work values are not usable")
    return brentq(imbalance, low, high, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)


def _bar_variance(forward, reverse, beta, free_energy):
    """Asymptotic variance of beta dF (Bennett 1976 Eq. 10a, the form pymbar calls 'BAR')."""
    (wf, cf, nf), (wr, cr, nr) = forward, reverse
    f_forward, f_reverse = _bar_terms(forward, reverse, beta, free_energy)
    mean_f, mean_f2 = np.dot(cf, f_forward) / nf, np.dot(cf, f_forward**2) / nf
    mean_r, mean_r2 = np.dot(cr, f_reverse) / nr, np.dot(cr, f_reverse**2) / nr
    return (mean_f2 / mean_f**2) / nf + (mean_r2 / mean_r**2) / nr - (nf + nr) / (nf * nr)


def overlap(forward, reverse, beta, free_energy):
    """The MBAR overlap scalar of the two end states (1 - second eigenvalue of the overlap matrix).

    Pooled samples n carry the reduced energy difference u = beta W_F (forward) or -beta W_R
    (reverse); MBAR weights W_n0 = 1/(N_F + N_R e^{beta dF - u}), W_n1 = e^{beta dF - u} W_n0.
    """
    (wf, cf, nf), (wr, cr, nr) = forward, reverse
    u = np.concatenate([beta * wf, -beta * wr])
    c = np.concatenate([cf, cr])
    log_ratio = beta * free_energy - u
    # W_n0 W_n1 = e^{d} / (N_F + N_R e^{d})^2, d = log_ratio, in log space (no overflow at large beta)
    log_product = log_ratio - 2.0 * np.logaddexp(np.log(nf), np.log(nr) + log_ratio)
    return float((nf + nr) * np.dot(c, np.exp(log_product)))


def bar(forward_values, forward_counts, reverse_values, reverse_counts, *, beta: float,
        bootstrap: int = 200, level: float = 0.95, seed: int = 0,
        minimum_overlap: float = 1e-6) -> FreeEnergyEstimate:
    """Bennett acceptance ratio dF (maximum-likelihood form, Shirts et al. 2003) from forward and
    reverse work, with the asymptotic stderr, a bootstrap interval and the overlap.

    Raises EstimatorError when the forward and reverse work distributions do not overlap (the
    likelihood then has no informative maximum) instead of returning a plausible number.
    """
    _check_beta(beta)
    forward = _unique(forward_values, forward_counts)
    reverse = _unique(reverse_values, reverse_counts)
    value = _bar_solve(forward, reverse, beta)
    shared = overlap(forward, reverse, beta, value)
    if not shared >= minimum_overlap:
        raise EstimatorError(f"BAR: forward and reverse work distributions do not overlap "
                             f"(overlap {shared:.2g} < {minimum_overlap:g}); sample more trajectories "
                             "or use intermediate protocols")
    variance = _bar_variance(forward, reverse, beta, value)
    stderr = np.sqrt(max(variance, 0.0)) / beta
    n = min(forward[2], reverse[2])
    normal = Estimate.normal(value, stderr, n, level)
    estimate = FreeEnergyEstimate(normal.value, normal.stderr, normal.ci_low, normal.ci_high, n,
                                  level, overlap=shared)
    replicates = None
    if bootstrap:
        replicates = np.array(list(_bar_resamples(forward, reverse, beta, bootstrap, seed)))
    return _with_interval(estimate, replicates, level)


def _bar_resamples(forward, reverse, beta, replicates, seed):
    """BAR estimates of ``replicates`` multinomial resamples of both directions (a generator:
    raises EstimatorError where a resample has no solution)."""
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        resampled = []
        for values, counts, total in (forward, reverse):
            c = rng.multinomial(total, counts / total)
            resampled.append((values[c > 0], c[c > 0], total))
        yield _bar_solve(resampled[0], resampled[1], beta)


def bar_bias(forward_values, forward_counts, reverse_values, reverse_counts, *, beta: float,
             replicates: int = 32, seed: int = 0) -> float:
    """Bootstrap estimate of the bias of BAR (mean of ``replicates`` multinomial resamples minus
    the estimate); NaN where a resample has no solution."""
    _check_beta(beta)
    forward = _unique(forward_values, forward_counts)
    reverse = _unique(reverse_values, reverse_counts)
    value = _bar_solve(forward, reverse, beta)
    try:
        draws = list(_bar_resamples(forward, reverse, beta, replicates, seed))
    except EstimatorError:
        return np.nan
    return float(np.mean(draws) - value)


def bar_effective_sample_size(forward_values, forward_counts, reverse_values, reverse_counts, *,
                              beta: float, free_energy: float) -> float:
    """The smaller Kish effective sample size (sum w)^2 / sum w^2 of the Fermi weights that the
    BAR equation averages in either direction (few effective samples: the estimate rests on a few
    trajectories in the overlap region)."""
    forward = _unique(forward_values, forward_counts)
    reverse = _unique(reverse_values, reverse_counts)
    f_forward, f_reverse = _bar_terms(forward, reverse, beta, free_energy)
    sizes = [np.dot(c, f) ** 2 / np.dot(c, f**2) if np.any(f > 0) else 0.0
             for (_, c, _), f in ((forward, f_forward), (reverse, f_reverse))]
    return float(min(sizes))


# --- Crooks ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrooksFit:
    """The Crooks log-ratios y_k = ln[P_F(W_k) / P_R(-W_k)] on the work values populated in both
    directions, with their multinomial covariance, and fits to them.

    ``free_energy``: GLS estimate of dF with the slope fixed at beta (mean of W_k - y_k / beta);
    ``slope``/``intercept``: free GLS line y = intercept + slope W (slope vs beta, intercept vs
    -beta dF); ``crossing``: W at which P_F(W) = P_R(-W), i.e. -intercept/slope (vs dF).
    """

    work: np.ndarray
    log_ratio: np.ndarray
    covariance: np.ndarray
    beta: float
    free_energy: Estimate
    slope: Estimate | None
    intercept: Estimate | None
    crossing: Estimate | None

    def chi2(self, expected_free_energy: float):
        """(chi2, dof, p-value) of the log-ratios about the exact line beta (W - expected)."""
        residual = self.log_ratio - self.beta * (self.work - expected_free_energy)
        value = float(residual @ _solve(self.covariance, residual))
        return value, residual.size, float(chi2_distribution.sf(value, residual.size))


def _paired_counts(forward, reverse, bins, min_count):
    """Counts of W in the forward and of -W in the reverse sample on common atoms or bins."""
    (wf, cf, nf), (wr, cr, nr) = forward, reverse
    if bins is None:  # exact atoms: pair W with -W
        reverse_lookup = {float(np.round(-w, 9)): c for w, c in zip(wr, cr)}
        c_r = np.array([reverse_lookup.get(float(np.round(w, 9)), 0.0) for w in wf])
        work, c_f = wf, cf
    else:
        edges = np.asarray(bins, dtype=float)
        c_f, _ = np.histogram(wf, edges, weights=cf)
        c_r, _ = np.histogram(-wr, edges, weights=cr)
        work = 0.5 * (edges[1:] + edges[:-1])
    keep = (c_f >= min_count) & (c_r >= min_count)
    if not keep.any():
        raise EstimatorError(f"no work value has {min_count} or more counts in both directions: "
                             "Crooks cannot be checked (sample more trajectories)")
    return work[keep], c_f[keep], c_r[keep], nf, nr


def crooks(forward_values, forward_counts, reverse_values, reverse_counts, *, beta: float,
           min_count: int = 50, bins=None, level: float = 0.95) -> CrooksFit:
    """Compare P_F(W) with P_R(-W) where both have at least ``min_count`` counts.

    Exact lattices pair W with -W directly (``bins`` None); continuous samples need ``bins`` (bin
    edges; the log-ratio of bin probabilities then carries a binning error of order the bin
    width squared).  The log-frequency ln(c_k/n) of a multinomial has variance 1/c_k - 1/n and
    covariance -1/n between bins to leading order; forward and reverse samples are independent.
    """
    _check_beta(beta)
    forward = as_distribution(forward_values, forward_counts)
    reverse = as_distribution(reverse_values, reverse_counts)
    work, c_f, c_r, nf, nr = _paired_counts(forward, reverse, bins, min_count)
    log_ratio = np.log(c_f / nf) - np.log(c_r / nr)
    covariance = np.diag(1.0 / c_f + 1.0 / c_r) - (1.0 / nf + 1.0 / nr)
    n = int(min(nf, nr))
    # slope fixed at beta: each value gives dF_k = W_k - y_k / beta
    ones = np.ones(work.size)
    weights = _solve(covariance / beta**2, ones)
    information = float(ones @ weights)
    if not (np.isfinite(information) and information > 0):
        raise EstimatorError("Crooks: the populated log-ratios carry no information on dF "
                             "(degenerate covariance: a single work value or no fluctuations)")
    free_energy = Estimate.normal(float(weights @ (work - log_ratio / beta)) / information,
                                  np.sqrt(1.0 / information), n, level)
    slope = intercept = crossing = None
    if work.size >= 2:
        design = np.column_stack([ones, work])
        fisher = design.T @ _solve(covariance, design)
        parameters_cov = np.linalg.inv(fisher)
        a, b = parameters_cov @ (design.T @ _solve(covariance, log_ratio))
        intercept = Estimate.normal(a, np.sqrt(parameters_cov[0, 0]), n, level)
        slope = Estimate.normal(b, np.sqrt(parameters_cov[1, 1]), n, level)
        gradient = np.array([-1.0 / b, a / b**2])  # d(-a/b)/d(a, b)
        crossing = Estimate.normal(-a / b, np.sqrt(gradient @ parameters_cov @ gradient), n, level)
    return CrooksFit(work, log_ratio, covariance, beta, free_energy, slope, intercept, crossing)


def _solve(matrix, vector):
    try:
        return np.linalg.solve(matrix, vector)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix) @ vector


def jarzynski(values, counts=None, *, beta: float) -> FreeEnergyEstimate:
    """The exponential average with its normal interval (no bootstrap, no warning): for checks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return exponential_average(values, counts, beta=beta, bootstrap=0)
