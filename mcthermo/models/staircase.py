"""Model A: a two-level system whose gap is raised in N steps (seed 000; README, The staircase).

Units hbar = k_B = 1; the ground level sits at energy 0 and the excited level at the gap D.
The gap runs D_j = gap_start + (j - 1) d, d = (gap_end - gap_start) / steps, j = 1..steps + 1.
Step j is a quantum adiabatic step (the occupation is frozen while the gap rises from D_j to
D_{j+1}: work n_j d, no heat) followed by a full thermalisation at D_{j+1} (a fresh draw of the
occupation with the thermal excitation probability P_{j+1} = 1 / (1 + e^{beta D_{j+1}}): heat, no
work).  The trajectory starts in equilibrium at gap_start and ends thermalised at gap_end, so

    work  W = d * (number of excited draws among j = 1..steps),
    heat  Q = gap_end n_final - gap_start n_initial - W   (absorbed from the bath).

Free energy F(D) = -ln(1 + e^{-beta D}) / beta; Jarzynski and Crooks hold exactly for every N.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit, logsumexp
from scipy.stats import binom

from ..options import option
from ..systems.bath import Bath
from ..systems.strokes import Quench, Strokes, Thermalize
from ..model import finite, require
from .chain import ChainModel, require_beta, require_magnitude

#: most steps the int64 work lattice (steps + 1 points) and the kernel's event index can hold
MAX_STEPS = 2**62


def free_energy(beta, gap):
    """F(D) = -ln(1 + e^{-beta D}) / beta of a two-level system with levels 0 and D."""
    return -np.logaddexp(0.0, -beta * np.asarray(gap, dtype=np.float64)) / beta


def _log_abs_exp_difference(a, b):
    """ln|e^a - e^b| without overflow: max(a, b) + ln(1 - e^{-|a - b|})."""
    return np.maximum(a, b) + np.log(-np.expm1(-np.abs(a - b)))


@dataclass(frozen=True)
class Staircase(ChainModel):
    """Quasi-static staircase: ``steps`` adiabatic gap rises, each followed by a thermalisation.

    beta: inverse temperature (> 0); gap_start, gap_end: initial and final gap (energy units);
    steps: number of adiabatic steps N >= 1.
    """

    beta: float = field(default=1.0, metadata=option("inverse temperature 1/T (1/energy)", "> 0"))
    gap_start: float = field(default=float(np.log(2.0)), metadata=option(
        "initial gap (energy)", "finite", default_text="ln 2"))
    gap_end: float = field(default=float(np.log(3.0)), metadata=option(
        "final gap (energy)", "finite", default_text="ln 3"))
    steps: int = field(default=100, metadata=option("adiabatic steps N", "integer >= 1"))

    name: ClassVar[str] = "staircase"

    def __post_init__(self):
        beta = finite("beta", self.beta)
        require(beta > 0, f"beta must be positive (got {self.beta})")
        require_beta(beta)
        object.__setattr__(self, "beta", beta)
        for name in ("gap_start", "gap_end"):
            gap = finite(name, getattr(self, name))
            require_magnitude(name, gap, beta)   # work, heat and beta W stay finite to 4th moments
            object.__setattr__(self, name, gap)
        require(isinstance(self.steps, (int, np.integer)) and not isinstance(self.steps, bool)
                and self.steps >= 1, f"steps must be an integer >= 1 (got {self.steps!r})")
        require(self.steps <= MAX_STEPS, f"steps must be <= 2**62 (got {self.steps!r})")
        object.__setattr__(self, "steps", int(self.steps))

    def dp_size(self) -> tuple[int, int]:
        """(steps, steps + 1): one event per step, one work value per number of excited draws (a
        single value, W = 0, when the gap does not move)."""
        return self.steps, 1 if self.step == 0.0 else self.steps + 1

    # --- protocol ---------------------------------------------------------------------------
    @property
    def step(self) -> float:
        """Gap increment d per adiabatic step (negative for a lowering protocol)."""
        return (self.gap_end - self.gap_start) / self.steps

    def gaps(self) -> np.ndarray:
        """D_1 .. D_{N+1}."""
        return self.gap_start + self.step * np.arange(self.steps + 1)

    def excitation_probabilities(self) -> np.ndarray:
        """Thermal excitation probability P_j = 1 / (1 + e^{beta D_j}), j = 1..N+1."""
        return expit(-self.beta * self.gaps())

    def reverse(self) -> "Staircase":
        """The time-reversed protocol: gap lowered from gap_end to gap_start in the same steps."""
        return Staircase(self.beta, self.gap_end, self.gap_start, self.steps)

    def strokes(self, direction: str = "forward") -> Strokes:
        """This protocol as strokes (docs/observables.md, Stroke protocols): levels 0 and D_1 in the Gibbs state of the bath, then
        per step an adiabatic quench to the next gap and a full thermalisation."""
        spec = self if direction == "forward" else self.reverse()
        gaps = spec.gaps()
        strokes = []
        for gap in gaps[1:]:
            strokes += [Quench([0.0, gap]), Thermalize("bath")]
        return Strokes(energies=[0.0, gaps[0]], baths={"bath": Bath(beta=spec.beta)}, initial="bath",
                       strokes=strokes, energy_unit=abs(spec.step) or None)

    def observables(self, direction, n_initial, n_final, work):
        spec = self if direction == "forward" else self.reverse()
        return {"work": work, "heat": spec.gap_end * n_final - spec.gap_start * n_initial - work}

    # --- exact answers ----------------------------------------------------------------------
    def free_energy_change(self) -> float:
        """dF = F(gap_end) - F(gap_start)."""
        return float(free_energy(self.beta, self.gap_end) - free_energy(self.beta, self.gap_start))

    def mean_work(self) -> float:
        """<W> = d sum_{j<=N} P_j."""
        return float(self.step * self.excitation_probabilities()[:-1].sum())

    def work_variance(self) -> float:
        """Var W = d^2 sum_{j<=N} P_j (1 - P_j)."""
        p = self.excitation_probabilities()[:-1]
        return float(self.step**2 * np.sum(p * (1.0 - p)))

    def log_work_pmf(self) -> np.ndarray:
        """ln P(m), m = 0..N excited draws (W = m d), by the spec's log-space recursion, O(N).

        With k = N - m ground draws: ln P(k=0) = sum_j ln P_j and
        ln P(k+1) - ln P(k) = ln|e^{beta D_b} - e^{beta (D_a + k d)}| - ln|e^{beta (k+1) d} - 1|,
        which is the paper's closed form (a q-binomial identity) without its overflow/underflow.
        """
        n, beta, d = self.steps, self.beta, self.step
        gaps = self.gaps()[:-1]
        if d == 0.0:
            return binom.logpmf(np.arange(n + 1), n, float(expit(-beta * self.gap_start)))
        log_all_excited = -np.sum(np.logaddexp(0.0, beta * gaps))
        k = np.arange(n)
        numerator = _log_abs_exp_difference(beta * self.gap_end, beta * (self.gap_start + k * d))
        denominator = _log_abs_exp_difference(beta * (k + 1) * d, 0.0)
        log_ground = log_all_excited + np.concatenate([[0.0], np.cumsum(numerator - denominator)])
        # the cumulative sum drifts by ~1e-11 at N = 10^4: restore the exact normalisation
        return (log_ground - logsumexp(log_ground))[::-1]  # index by excited draws m = N - k

    def work_distribution(self) -> pd.DataFrame:
        """Exact work distribution: columns excited (m), work (= m d), probability, log_probability."""
        log_p = self.log_work_pmf()
        m = np.arange(self.steps + 1)
        return pd.DataFrame({"excited": m, "work": self.step * m, "probability": np.exp(log_p),
                             "log_probability": log_p})

    def most_probable_work(self) -> float:
        """Mode of the exact work distribution (the paper's W-tilde; -> dF as N -> infinity)."""
        return float(self.step * np.argmax(self.log_work_pmf()))
