"""Moments and exponential averages of discrete distributions given as (values, counts).

Everything statistical in mcthermo is computed from integer counts on exact value lattices (or
from per-trajectory samples, which are counts of one), so results are exact functions of the counts
and merge across chunks without rounding drift.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import ndtri


@dataclass(frozen=True)
class Estimate:
    """An estimate with its standard error and a central interval (``level``, normal theory unless
    stated), from ``n`` trajectories."""

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int
    level: float = 0.95

    @classmethod
    def normal(cls, value, stderr, n, level=0.95):
        half = -ndtri((1.0 - level) / 2.0) * stderr
        return cls(float(value), float(stderr), float(value - half), float(value + half), int(n), level)

    def z(self, expected: float) -> float:
        """(estimate - expected) / stderr; with zero error (every trajectory alike): 0 for a match to
        rounding (1e-9 relative), +-inf for a mismatch."""
        diff = self.value - expected
        if self.stderr > 0:
            return float(diff / self.stderr)
        if abs(diff) <= 1e-9 * max(1.0, abs(expected), abs(self.value)):
            return 0.0
        return float(np.copysign(np.inf, diff))

    def to_dict(self):
        return asdict(self)


def as_distribution(values, counts=None):
    """Validate and flatten (values, counts); per-trajectory samples when ``counts`` is None."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if counts is None:
        counts = np.ones(values.size, dtype=np.int64)
    counts = np.asarray(counts).ravel()
    if counts.shape != values.shape:
        raise ValueError("values and counts must have the same shape")
    if np.any(counts < 0):
        raise ValueError("counts must be non-negative")
    used = counts > 0
    if not np.all(np.isfinite(values[used])):
        raise ValueError("values must be finite (found NaN or inf among the sampled values)")
    n = int(counts.sum())
    if n == 0:
        raise ValueError("no samples: the distribution is empty")
    return values[used], counts[used].astype(np.float64), n


def moments(values, counts=None):
    """(n, mean, variance, fourth central moment) of a distribution, variance with 1/n."""
    values, weights, n = as_distribution(values, counts)
    mean = np.dot(weights, values) / n
    centred = values - mean
    variance = np.dot(weights, centred**2) / n
    fourth = np.dot(weights, centred**4) / n
    return n, float(mean), float(variance), float(fourth)


def mean_estimate(values, counts=None) -> Estimate:
    """Sample mean with stderr sqrt(s^2 / n), s^2 the unbiased variance."""
    n, mean, variance, _ = moments(values, counts)
    sample_variance = variance * n / (n - 1) if n > 1 else np.inf
    return Estimate.normal(mean, np.sqrt(sample_variance / n), n)


def variance_estimate(values, counts=None) -> Estimate:
    """Unbiased sample variance with the large-sample stderr sqrt((m4 - s^4) / n)."""
    n, _, variance, fourth = moments(values, counts)
    if n < 2:
        return Estimate.normal(np.nan, np.inf, n)
    unbiased = variance * n / (n - 1)
    return Estimate.normal(unbiased, np.sqrt(max(fourth - variance**2, 0.0) / n), n)


#: absolute round-off of an exact ln<e^{-sigma}> computed from probabilities of order 1 (a
#: detailed-balanced system's 0 comes out as +-6e-16)
LOG_ROUND_OFF = 1e-12


def zero_within_round_off(value, round_off=LOG_ROUND_OFF) -> float:
    """``value``, or exactly 0.0 when |value| <= ``round_off`` (a quantity zero within round-off is
    reported as 0, never as +-6e-16 or -0.0)."""
    return 0.0 if abs(value) <= round_off else float(value)


def variance_from_sums(total, total_squares, n):
    """Sample variance (n - 1 denominator) from the sum and the sum of squares of n values; a
    variance below the round-off of that difference (16 eps x the mean square, e.g. identical
    values) is exactly 0; NaN (squares not summed) stays NaN.  Elementwise on arrays."""
    total, total_squares = np.asarray(total, float), np.asarray(total_squares, float)
    mean_square = total_squares / n
    raw = mean_square - (total / n) ** 2
    kept = np.isnan(raw) | (raw > 16 * np.finfo(float).eps * np.abs(mean_square))   # NaN: not summed
    return np.where(kept, raw, 0.0) * n / max(n - 1, 1)


def log_sum_exp(x):
    """ln sum exp(x) of a 1-d array without overflow (scipy's logsumexp pays an array-API dispatch
    that dominates on the small lattices of count histograms)."""
    x_max = x.max()
    return x_max + np.log(np.sum(np.exp(x - x_max)))


def log_mean_exp(values, counts=None, scale=1.0):
    """ln <exp(scale * x)> and its delta-method stderr, in log-sum-exp (no overflow for any x).

    Returns (log_mean, stderr_of_log_mean, n); the stderr is std(X) / (sqrt(n) <X>) with
    X = e^{scale x} and the population std (as pymbar), from the log-space second moment.
    """
    values, weights, n = as_distribution(values, counts)
    a = scale * values
    a_max = a.max()
    # log-sum-exp by hand: scipy's array-API dispatch costs more than the sum on a small lattice
    first = np.dot(weights, np.exp(a - a_max)) / n
    second = np.dot(weights, np.exp(2.0 * (a - a_max))) / n
    log_mean = a_max + np.log(first)
    relative_variance = max(second / first**2 - 1.0, 0.0)
    return float(log_mean), float(np.sqrt(relative_variance / n)), n


def lattice_groups(values, decimals=10):
    """Distinct values of a grid of exact observable values and the index of each grid point's value.

    Values within ``decimals`` relative digits of their neighbour are one atom (different paths
    can give the same energy with different rounding; chained, so that no rounding boundary splits
    an atom in two).  Each atom is represented by its first grid point.  Returns (distinct values
    ascending, inverse index of the flattened grid)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return values, np.zeros(0, dtype=np.intp)
    scale = max(1.0, float(np.max(np.abs(values))))
    order = np.argsort(values, kind="stable")
    starts = np.concatenate(([True], np.diff(values[order]) > 10.0**-decimals * scale))
    group = np.cumsum(starts) - 1
    inverse = np.empty(values.size, dtype=np.intp)
    inverse[order] = group
    first = np.minimum.reduceat(order, np.flatnonzero(starts))
    return values[first], inverse


def log_group_sum(inverse, log_values, size):
    """ln of the sums of exp(log_values) per group (``inverse`` as from ``lattice_groups``):
    the log-space bincount of exact probabilities (-inf for a group of impossible atoms)."""
    log_values = np.asarray(log_values, dtype=np.float64).ravel()
    top = np.full(size, -np.inf)
    np.maximum.at(top, inverse, log_values)
    shift = np.where(np.isfinite(top), top, 0.0)
    total = np.bincount(inverse, np.exp(log_values - shift[inverse]), size)
    with np.errstate(divide="ignore"):
        return shift + np.log(total)
