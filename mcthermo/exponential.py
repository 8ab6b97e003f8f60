"""Exponential averages <e^{-s X}> of a trajectory observable X: the exact generating function
G_X(s) = <e^{-s X}> beside streaming sample sums, with no histogram and no lattice.

Before sampling, a spec fixes for each observable a few s values (``exponents``) from its exact
ln G_X: on each side of s = 0 the s where the exact relative variance of e^{-s X},
v(s) = G(2s) / G(s)^2 - 1, is near each of ``RELATIVE_VARIANCES`` (each s rounded to two digits, so
the set is the same on every machine), plus the s values a theorem needs (beta for Jarzynski, 1 for
the integral fluctuation theorem).  The kernel adds ln sum_t e^{-s x_t} per block of trajectory
indices (a streaming log-sum-exp in index order); blocks merge by log-sum-exp in block order, so
the sums never depend on threads, chunks or workers.  The checks then use only the s values where
the sample has power (``usable``): exact relative stderr sqrt(v / n) and exact skewness of the
sample mean (from G(3s)) both small, so a normal z-test with the EXACT null stderr is honest.

Units hbar = k_B = 1; heat is energy into the system.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

#: exact relative variances v(s) at which s values are accumulated (each side of s = 0)
RELATIVE_VARIANCES = (0.03, 0.3, 3.0)
#: an exponential average is judged only where the exact relative stderr sqrt(v / n) is at most this
MAX_RELATIVE_STDERR = 0.1
#: ... and the exact skewness of its sample mean (skewness of e^{-s x} / sqrt(n)) at most this: the
#: one-term Edgeworth correction phi(z) skew (z^2 - 1) / 6 then moves the 5-sigma two-sided tail
#: (5.7e-7) by at most 1.5e-6
MAX_SKEWNESS = 0.25
#: an observable whose exact standard deviation is below this times the scale of its values is
#: deterministic: computed variances of an undriven W = 0 range 3.5e-18 .. 3.6e-15 (std 6e-8)
ROUND_OFF = 1e-6


def safe(log_g):
    """``log_g`` evaluated where it can be: NaN at the s values it refuses (|s| beyond the
    floating-point range of the exact computation)."""
    def evaluate(s):
        s = np.asarray(s, dtype=np.float64)
        try:
            return np.asarray(log_g(s), float)
        except (ValueError, OverflowError, FloatingPointError):
            out = np.full(s.shape, np.nan)
            for index, t in np.ndenumerate(s):
                try:
                    out[index] = float(log_g(float(t)))
                except (ValueError, OverflowError, FloatingPointError):
                    pass
            return out
    return evaluate


def _two_digits(s: float) -> float:
    return float(f"{s:.2g}")


def relative_variance(log_g, s) -> np.ndarray:
    """Exact v(s) = G(2s)/G(s)^2 - 1 of e^{-s X} (inf where G overflows)."""
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    log_g = safe(log_g)
    with np.errstate(invalid="ignore", over="ignore"):
        log_ratio = log_g(2.0 * s) - 2.0 * log_g(s)
        v = np.expm1(np.minimum(log_ratio, 700.0))
    v = np.where(np.isfinite(log_ratio), v, np.inf)
    return np.maximum(v, 0.0)


def skewness(log_g, s) -> np.ndarray:
    """Exact skewness of e^{-s X}: (G3/G^3 - 3 G2/G^2 + 2) / v^{3/2}, G_k = G(k s)."""
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    log_g = safe(log_g)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        g1, g2, g3 = (log_g(k * s) for k in (1.0, 2.0, 3.0))
        third = np.exp(np.minimum(g3 - 3 * g1, 700.0)) - 3 * np.exp(np.minimum(g2 - 2 * g1, 700.0)) + 2
        v = np.expm1(np.minimum(g2 - 2 * g1, 700.0))
        out = third / v**1.5
    return np.where(np.isfinite(out), out, np.inf)


def exponents(log_g, std: float, extra=()) -> np.ndarray:
    """The s values to accumulate for an observable of exact standard deviation ``std`` and exact
    ln G ``log_g``: per target v of ``RELATIVE_VARIANCES`` and side, s from the Gaussian guess
    s = sqrt(ln(1 + v)) / std refined by one secant step in ln v ~ 2 ln s (two digits), plus
    ``extra``; sorted, unique, s != 0.  A target the exact G cannot reach (a bounded e^{-s x}) or
    refuses (|s| beyond its floating-point range) keeps the last s that worked."""
    chosen = [float(e) for e in extra if e != 0 and np.isfinite(e)]
    if std > 0 and np.isfinite(std):
        targets = np.array(RELATIVE_VARIANCES)
        for sign in (1.0, -1.0):
            s = sign * np.sqrt(np.log1p(targets)) / std          # Gaussian X: v = e^{s^2 std^2} - 1
            v = relative_variance(log_g, s)
            ok = np.isfinite(v) & (v > 0)
            step = np.where(ok, np.sqrt(np.log1p(targets) / np.log1p(np.where(ok, v, 1.0))), 0.5)
            s = s * np.clip(step, 0.25, 4.0)                       # one secant step in ln(1 + v) ~ s^2
            v = relative_variance(log_g, s)
            chosen += [_two_digits(t) for t, value in zip(s, v) if np.isfinite(value)]
    return np.unique(np.array(chosen, dtype=np.float64))


def cached(log_g):
    """``log_g`` (made ``safe``) remembering every value it computed (the checks ask for G at s,
    2s, 3s and s_i + s_j: each exact evaluation is a product of matrix exponentials)."""
    log_g = safe(log_g)
    memory: dict[float, float] = {}

    def evaluate(s):
        s_array = np.asarray(s, dtype=np.float64)
        missing = np.array(sorted({float(t) for t in s_array.ravel()} - memory.keys()))
        if missing.size:
            memory.update(zip(missing.tolist(), np.atleast_1d(log_g(missing)).tolist()))
        out = np.array([memory[float(t)] for t in s_array.ravel()]).reshape(s_array.shape)
        return out if s_array.ndim else float(out)
    return evaluate


def usable(log_g, s, n: int) -> np.ndarray:
    """Which s values the sample of size n can judge: exact relative stderr <= MAX_RELATIVE_STDERR
    and skewness of the sample mean <= MAX_SKEWNESS."""
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    if s.size == 0 or n < 2:
        return np.zeros(s.size, bool)
    v = relative_variance(log_g, s)
    return (v / n <= MAX_RELATIVE_STDERR**2) & (np.abs(skewness(log_g, s)) / np.sqrt(n) <= MAX_SKEWNESS)


def trajectories_needed(log_g, s) -> float:
    """The sample size at which the exact relative stderr and skewness rules first hold at s."""
    v = float(relative_variance(log_g, s)[0])
    skew = float(np.abs(skewness(log_g, s))[0])
    if not (np.isfinite(v) and np.isfinite(skew)):
        return np.inf
    ratio = skew / MAX_SKEWNESS      # (a float power raises on overflow; a product gives inf)
    return float(np.ceil(max(v / MAX_RELATIVE_STDERR**2, ratio * ratio, 2.0)))


def fourth_central_moment(log_g, mean: float, variance: float) -> float:
    """mu_4 = kappa_4 + 3 kappa_2^2 of X from its exact ln G: kappa_4 by fourth central differences
    of ln G(s) + s mean at h = 0.1 / std and 0.05 / std, Richardson-extrapolated (relative error
    ~ (h std)^4 ~ 1e-4: enough for the stderr of a variance)."""
    if not variance > 0:
        return 0.0
    std = np.sqrt(variance)

    def fourth(h):
        s = h * np.arange(-2.0, 3.0)
        f = np.asarray(log_g(s), float) + s * mean
        return float(f[0] - 4 * f[1] + 6 * f[2] - 4 * f[3] + f[4]) / h**4

    kappa4 = (4.0 * fourth(0.05 / std) - fourth(0.1 / std)) / 3.0
    return float(kappa4 + 3.0 * variance**2)


def log_block_sum(per_block: np.ndarray) -> np.ndarray:
    """Merge per-block ln sum e^{-s x} (blocks first, in trajectory order) into one per s."""
    return logsumexp(per_block, axis=0)
