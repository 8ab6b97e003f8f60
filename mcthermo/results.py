"""What a model declares after sampling: merged counts beside its exact answers.

A model turns its merged accumulators into a ``Results`` (no table code, no checks); the one table
builder (``mcthermo.tables``) turns a ``Results`` into the histogram / summary / checks tables and
the model's extra tables.  Units hbar = k_B = 1; heat is energy into the system (docs/observables.md, Conventions).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import logsumexp

#: the checks a histogrammed observable gets by default
DISTRIBUTION_CHECKS = ("mean", "variance", "distribution")


@dataclass(frozen=True, eq=False)
class Observable:
    """One observable of one direction.

    Either a histogram on exact atoms (``values``, int64 ``counts``) -- optionally with the exact
    law ``log_probability_exact`` on the same atoms (natural log, -inf for impossible atoms) -- or,
    for observables without a histogram, the sample moments ``n``, ``total`` (sum) and
    ``total_squares`` (sum of squares).  ``mean_exact`` / ``variance_exact`` override the moments
    of the exact law (or give them where there is no law).  ``checks`` names the checks wanted:
    "mean", "variance", "distribution".

    Exponential sums without a histogram (``mcthermo.exponential``): ``exponents`` (s values) and
    ``log_exponential_sums`` (ln sum_t e^{-s x_t} over the n trajectories at each s), beside the
    exact ``log_generating_function`` (s -> ln <e^{-s x}>, vectorised); a histogrammed observable
    gets its sums from the histogram and ln G from its law when these are not given.
    ``value_scale``: the scale of the values (largest energy of the model for work and heat) against
    which round-off is judged; an exact standard deviation below ``exponential.ROUND_OFF`` times it
    is zero (a deterministic observable).

    ``condition`` (e.g. "heat_hot != 0"): the observable is defined only on the trajectories that
    meet it -- it is counted over those, ``n`` is their (random) number, and its exact law is the law
    conditioned on the event (normalised to 1).  Given n, the n values are independent draws from
    that conditional law, so every check is a check conditional on n.
    """

    name: str
    values: np.ndarray | None = None
    counts: np.ndarray | None = None
    log_probability_exact: np.ndarray | None = None
    mean_exact: float | None = None
    variance_exact: float | None = None
    n: int | None = None
    total: float | None = None
    total_squares: float | None = None
    checks: tuple[str, ...] = DISTRIBUTION_CHECKS
    condition: str | None = None
    exponents: np.ndarray | None = None
    log_exponential_sums: np.ndarray | None = None
    log_generating_function: Callable | None = None
    value_scale: float | None = None

    def __post_init__(self):
        if self.values is not None:
            values = np.ascontiguousarray(self.values, dtype=np.float64).ravel()
            counts = np.ascontiguousarray(self.counts, dtype=np.int64).ravel()
            if counts.shape != values.shape:
                raise ValueError(f"{self.name}: values and counts need the same shape")
            object.__setattr__(self, "values", values)
            object.__setattr__(self, "counts", counts)
            object.__setattr__(self, "n", int(counts.sum()))
            if self.log_probability_exact is not None:
                log_p = np.ascontiguousarray(self.log_probability_exact, dtype=np.float64).ravel()
                if log_p.shape != values.shape:
                    raise ValueError(f"{self.name}: log_probability_exact needs one entry per value")
                object.__setattr__(self, "log_probability_exact", log_p)
        elif self.n is None or self.total is None:
            raise ValueError(f"{self.name}: give values and counts, or n and total")
        if self.exponents is not None:
            exponents = np.atleast_1d(np.asarray(self.exponents, dtype=np.float64))
            sums = np.atleast_1d(np.asarray(self.log_exponential_sums, dtype=np.float64))
            if sums.shape != exponents.shape:
                raise ValueError(f"{self.name}: log_exponential_sums needs one entry per exponent")
            object.__setattr__(self, "exponents", exponents)
            object.__setattr__(self, "log_exponential_sums", sums)

    @property
    def histogrammed(self) -> bool:
        return self.values is not None

    @property
    def has_law(self) -> bool:
        return self.log_probability_exact is not None

    @property
    def probability_exact(self) -> np.ndarray | None:
        return None if self.log_probability_exact is None else np.exp(self.log_probability_exact)

    def exact_moments(self) -> tuple[float, float] | None:
        """(mean, variance) of the exact law or the declared ones; None where neither exists."""
        mean, variance = self.mean_exact, self.variance_exact
        p = self.probability_exact
        if p is not None and p.sum() > 0 and (mean is None or variance is None):
            p = p / p.sum()
            law_mean = float(np.dot(p, self.values))
            law_variance = float(np.dot(p, (self.values - law_mean) ** 2))
            mean = law_mean if mean is None else mean
            variance = law_variance if variance is None else variance
        if mean is None:
            return None
        return float(mean), (np.nan if variance is None else float(variance))

    def exact_log_generating(self, s):
        """Exact ln<e^{-s x}> (vectorised): the declared function, else the law; None without
        either."""
        if self.log_generating_function is not None:
            return np.asarray(self.log_generating_function(np.asarray(s, dtype=np.float64)), float)
        if not self.has_law:
            return None
        s = np.asarray(s, dtype=np.float64)
        norm = logsumexp(self.log_probability_exact)
        out = logsumexp(-np.multiply.outer(s, self.values) + self.log_probability_exact, axis=-1)
        return out - norm

    def sample_log_exponential_sum(self, s: float) -> float | None:
        """ln sum_t e^{-s x_t} over the sample: from the accumulated sums, else the histogram."""
        if self.exponents is not None:
            hit = np.flatnonzero(self.exponents == s)
            if hit.size:
                return float(self.log_exponential_sums[hit[0]])
        if self.histogrammed and self.n:
            used = self.counts > 0
            return float(logsumexp(-s * self.values[used] + np.log(self.counts[used])))
        return None

    def log_exponential_average(self, scale: float) -> float | None:
        """Exact ln<e^{-scale x}> from the law in log space (None without a law)."""
        if not self.has_law:
            return None
        return float(logsumexp(-scale * self.values + self.log_probability_exact)
                     - logsumexp(self.log_probability_exact))


@dataclass(frozen=True, eq=False)
class Expectation:
    """Sampled expectation values against exact ones at output times (a ``expectation``-style
    check: one max-|z| verdict over every random z-score, Bonferroni threshold).  Arrays of shape
    (times, components)."""

    check: str
    observable: str
    times: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    exact: np.ndarray
    components: tuple[str, ...]
    n: int


@dataclass(frozen=True)
class ExactCount:
    """An exact integer check: ``violations`` trajectories broke an identity that must hold on
    every trajectory (e.g. the first law); passes only at 0."""

    check: str
    observable: str
    violations: int
    n: int


@dataclass(frozen=True, eq=False)
class SecondLaw:
    """An exact entropy-production series Sigma(t) of one heat bookkeeping (``observable`` names
    it).  ``binding``: the heat is what the baths receive, so Sigma >= 0 is required and a negative
    value fails; otherwise a negative value is reported ("not applicable": informational) as a property of that
    bookkeeping."""

    observable: str
    times: np.ndarray
    entropy_production: np.ndarray
    binding: bool = True


@dataclass(frozen=True)
class EngineEfficiency:
    """The engine efficiency users quote first, eta = -<W>/<Q_hot> (a ratio of two means, not the
    mean of the stochastic efficiency -W/Q_hot), from the sample sums of one direction:
    ``sums`` = (sum W, sum Q, sum W^2, sum Q^2, sum W Q) over ``n`` trajectories; ``exact`` = the
    exact (<W>, <Q>, Var W, Var Q, Cov(W, Q)) or None; ``hot`` names the hot bath (heat into the
    system, so an engine has <Q_hot> > 0 and <W> < 0).  ``sums`` None: the sampling kept no joint
    moments of W and Q_hot (the row says so)."""

    hot: str
    n: int
    sums: tuple[float, float, float, float, float] | None
    exact: tuple[float, float, float, float, float] | None = None


@dataclass
class DirectionResults:
    """Everything declared for one direction ("forward" or "reverse").

    jarzynski: (beta, expected free-energy change of this direction) checked on observable "work",
    or a string saying why the check does not apply (a row saying so is written); integral_ft: the exact ln<e^{-sigma}> checked on observable "entropy_production", or a string
    saying why the check does not apply (a row saying so is written); expectations, exact_counts
    and second_laws: one check row each.  no_exact_reference: why this direction has no exact
    references (the spec's ``exact=False``): the rows of observables without an exact answer, and
    of expectation values, are "not applicable" with this reason.
    """

    observables: list[Observable]
    jarzynski: tuple[float, float] | str | None = None
    integral_ft: float | str | None = None
    expectations: list[Expectation] = field(default_factory=list)
    exact_counts: list[ExactCount] = field(default_factory=list)
    second_laws: list[SecondLaw] = field(default_factory=list)
    no_exact_reference: str | None = None
    engine_efficiency: EngineEfficiency | None = None

    def observable(self, name: str) -> Observable | None:
        return next((o for o in self.observables if o.name == name), None)


@dataclass
class Results:
    """What a model declares: per direction, the two-direction free-energy checks (``bar_crooks`` =
    (beta, dF) when forward and reverse were sampled, or a string saying why they do not apply: the
    bar and crooks rows then say so) and extra tables by name.

    A tilted run (``mcthermo.tilting``) also declares ``tilted``: the Results of each tilted
    ensemble by its tilt label (their rows carry it in the ``tilt`` column), and ``extra_checks``:
    ready check rows of the reweighted estimates."""

    directions: dict[str, DirectionResults]
    bar_crooks: tuple[float, float] | str | None = None
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    tilted: dict[str, "Results"] = field(default_factory=dict)
    extra_checks: list[dict] = field(default_factory=list)
