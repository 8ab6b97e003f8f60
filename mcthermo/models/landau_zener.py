"""Model B: a fermionic level driven through Landau–Zener crossings with reservoir levels (seed 001).

Units hbar = k_B = 1; energies measured from zero, beta = 1/T, mu the reservoir chemical potential.
The system level is raised from ``level_start`` through the reservoir levels eps_1 < ... < eps_L
(each initially thermal, f_i = 1/(1 + e^{beta (eps_i - mu)})) to ``level_end``.  At crossing i the
occupation n is kept with the diabatic (Landau–Zener) probability

    R_i = exp(-pi delta_i^2 / (2 eps_dot_i)),  delta_i = minimum adiabatic gap = 2 * coupling,

and otherwise swapped with the thermal reservoir level, i.e. redrawn from Bernoulli(f_i).  Between
crossings n is frozen and the rise is mechanical work.  The trajectory starts in equilibrium,
n_0 ~ Bernoulli(f(level_start)).

Index convention (seed 001; README, Landau–Zener crossings): protocol positions e_0 = level_start, e_i = eps_i
(i = 1..L), e_{L+1} = level_end; p_i is the occupation *just before* crossing i (p_1 = f(e_0)),
p_{L+1} the final one.  Segment k = 0..L is the rise e_k -> e_{k+1} at occupation p_{k+1}.  The
interval "i+" is crossing i followed by the rise to e_{i+1}.

Per trajectory (every one a function of (n_initial, n_final, W_m)):
    work               W_m = sum_k n_k (e_{k+1} - e_k)           mechanical work on the level
    chemical_work      W_c = mu (n_final - n_initial)
    heat               Q   = sum_i (eps_i - mu) dn_i = dE - W_m - W_c   (from the reservoir)
    entropy_change     ds  = ln p_1(n_initial) - ln p_{L+1}(n_final)    (stochastic Shannon entropy)
    entropy_production sigma = ds - beta Q = ln P[path] / P~[reversed path], P~ the crossings run
                       backwards from p_{L+1}; <sigma> = sum_i Sigma_i and <e^{-sigma}> = 1 exactly.
                       Equivalently sigma = beta (W_m - dOmega_eq) - ln p_{L+1}(n_f)/f(e_{L+1}; n_f),
                       so <sigma> = beta(<W_m> - dOmega_eq) - D(p_{L+1} || f(level_end)).

Every crossing kernel is detailed balanced at its own level, so Jarzynski <e^{-beta W_m}> =
e^{-beta dOmega_eq} and Crooks P_F(w)/P_R(-w) = e^{beta (w - dOmega_eq)} hold exactly for any R_i,
with Omega_eq(eps) = -ln(1 + e^{-beta (eps - mu)}) / beta.  The reverse protocol lowers the level
from level_end to level_start through eps_L .. eps_1 with the same R_i, starting in equilibrium at
level_end.

The continuous-time limit (seed Sec. VI) is in exact/golden_rule.py.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ..options import option
from ..model import finite, require
from ..physics import (fermi, grand_potential, relative_entropy, relative_entropy_to_thermal,  # noqa: F401
                       shannon_entropy, thermal_log_odds)
from .chain import ChainModel, require_beta, require_magnitude

SEED_LEVELS = tuple(float(i) for i in range(1, 10))


class LandauZenerValidityWarning(UserWarning):
    """The parameters leave the regime where sequential Landau–Zener crossings are valid."""


# --- one crossing (vectorised) ---------------------------------------------------------------
def diabatic_probability(gap, speed):
    """Landau–Zener R = exp(-pi delta^2 / (2 eps_dot)), delta the minimum gap (hbar = 1); an
    exponent beyond the float range is R = 0 (adiabatic) or R = 1 (sudden), exactly."""
    with np.errstate(over="ignore"):
        return np.exp(-np.pi * np.asarray(gap, dtype=np.float64) ** 2 / (2.0 * np.asarray(speed)))






def crossing_entropy_production(p, keep, log_odds):
    """Seed Eq. (6): entropy production of one crossing from occupation p with diabatic
    probability R = ``keep`` and thermal log-odds x = ln[f/(1-f)] of the reservoir level.

    Sigma = (M+ (1-p) - M- p) ln[M+ (1-p) / (M- p)] - D(p' || p), with M+ = (1-R) f,
    M- = (1-R)(1-f), p' = R p + (1-R) f.  The log uses M+/M- = e^x (local detailed balance),
    so it stays finite at R = 1.  Equals D(p || f) - D(p' || f) >= 0, the form used where p has
    rounded to 0 or 1.
    """
    p, keep, x = (np.asarray(v, dtype=np.float64) for v in (p, keep, log_odds))
    f = expit(x)
    after = keep * p + (1.0 - keep) * f
    flux = (1.0 - keep) * (f * (1.0 - p) - (1.0 - f) * p)
    with np.errstate(divide="ignore", invalid="ignore"):
        exchange = np.where(flux == 0.0, 0.0, flux * (x - logit(p)))
        sigma = exchange - relative_entropy(after, p)
    # p rounded to 0 or 1 (beta |eps - mu| > 37) makes both terms infinite: use the finite
    # difference of relative entropies to the thermal state instead
    return np.where(np.isfinite(sigma), sigma,
                    relative_entropy_to_thermal(p, x) - relative_entropy_to_thermal(after, x))


# --- the model ------------------------------------------------------------------------------------
def _float_tuple(name, values):
    require(np.ndim(values) == 1 and len(values) >= 1,
            f"{name} must be a non-empty list of numbers (got {values!r})")
    return tuple(finite(f"{name}[{i}]", v) for i, v in enumerate(values))


def _per_crossing(name, plural, scalar, array, count, default, strictly_positive):
    """Resolve a scalar/per-crossing parameter pair to (scalar, None) or (None, tuple), checking
    the sign: >= 0, or > 0 when ``strictly_positive``."""
    require(scalar is None or array is None, f"give either {name} or {plural}, not both")
    bound = "> 0" if strictly_positive else ">= 0"
    if array is None:
        value = finite(name, default if scalar is None else scalar)
        require(value > 0 if strictly_positive else value >= 0, f"{name} must be {bound} (got {value})")
        return value, None
    values = _float_tuple(plural, array)
    require(len(values) == count, f"{plural} needs one value per level ({count}), got {len(values)}")
    require(all(v > 0 if strictly_positive else v >= 0 for v in values),
            f"every entry of {plural} must be {bound} (got {list(values)})")
    return None, values


@dataclass(frozen=True)
class LandauZener(ChainModel):
    """A fermionic level raised through L reservoir levels (seed 001; see the module docstring).

    beta > 0: inverse temperature; mu: chemical potential; levels: reservoir energies eps_i,
    strictly ascending; coupling gamma >= 0 (gap delta_i = 2 gamma) or gaps: per-crossing minimum
    gaps delta_i >= 0; speed > 0 or speeds: driving speed eps_dot_i at each crossing (energy/time);
    level_start < eps_1 and level_end > eps_L: where the system level starts (in equilibrium) and
    stops.  Defaults are the seed's parameters (Figs. 2 and 4).
    """

    beta: float = field(default=1.2, metadata=option("inverse temperature 1/T (1/energy)", "> 0"))
    mu: float = field(default=3.0, metadata=option("chemical potential (energy)", "finite"))
    levels: tuple = field(default=SEED_LEVELS, metadata=option(
        "reservoir level energies, comma-separated", "strictly ascending", default_text="1,...,9"))
    coupling: float | None = field(default=None, metadata=option(
        "coupling gamma, gap delta = 2 gamma (energy)", ">= 0", kind="float", group="gap",
        default_text="0.2"))
    gaps: tuple | None = field(default=None, metadata=option(
        "per-crossing minimum gaps delta_i (energy), comma-separated", ">= 0 each", kind="numbers",
        group="gap"))
    speed: float | None = field(default=None, metadata=option(
        "driving speed at every crossing (energy/time)", "> 0", kind="float", group="speed",
        default_text="1"))
    speeds: tuple | None = field(default=None, metadata=option(
        "per-crossing driving speeds (energy/time), comma-separated", "> 0 each", kind="numbers",
        group="speed"))
    level_start: float = field(default=0.0, metadata=option(
        "initial system-level energy", "below the first level"))
    level_end: float = field(default=10.0, metadata=option(
        "final system-level energy", "above the last level"))

    name: ClassVar[str] = "lz"
    extra_tables: ClassVar[tuple[str, ...]] = ("crossings",)
    distribution_checks: ClassVar[tuple[str, ...]] = ("work", "heat", "entropy_production")

    def __post_init__(self):
        beta = finite("beta", self.beta)
        require(beta > 0, f"beta must be positive (got {self.beta})")
        require_beta(beta)
        levels = _float_tuple("levels", self.levels)
        require(all(a < b for a, b in zip(levels, levels[1:])),
                f"levels must be strictly ascending, without duplicates (got {list(levels)})")
        start, end = finite("level_start", self.level_start), finite("level_end", self.level_end)
        require(start < levels[0], f"level_start must lie below the first level {levels[0]} (got {start})")
        require(end > levels[-1], f"level_end must lie above the last level {levels[-1]} (got {end})")
        coupling, gaps = _per_crossing("coupling", "gaps", self.coupling, self.gaps, len(levels), 0.2,
                                       strictly_positive=False)
        speed, speeds = _per_crossing("speed", "speeds", self.speed, self.speeds, len(levels), 1.0,
                                      strictly_positive=True)
        mu = finite("mu", self.mu)
        # energies and beta (e - mu) stay finite to the tables' fourth moments
        for name, value in (("mu", mu), ("level_start", start), ("level_end", end),
                            *((f"levels[{i}]", e) for i, e in enumerate(levels))):
            require_magnitude(name, value, beta)
        for field, value in (("beta", beta), ("mu", mu), ("levels", levels),
                             ("level_start", start), ("level_end", end), ("coupling", coupling),
                             ("gaps", gaps), ("speed", speed), ("speeds", speeds)):
            object.__setattr__(self, field, value)
        self.chain("forward")  # refuse an exploding work lattice at construction
        self._warn_outside_validity()

    def _warn_outside_validity(self):
        """Seed Sec. II: sequential LZ crossings need eps_{i+1} - eps_i > delta_i and > sqrt(eps_dot_i)."""
        spacing = np.diff(self.levels)
        bound = np.maximum(self.gap_array, np.sqrt(self.speed_array))[:-1]
        bad = np.flatnonzero(spacing < bound)
        if bad.size:
            where = "; ".join(f"crossing {i + 1} (level {self.levels[i]:g}): spacing {spacing[i]:.3g} "
                              f"< max(delta, sqrt(speed)) = {bound[i]:.3g}" for i in bad[:3])
            if bad.size > 3:
                where += f"; and {bad.size - 3} more of the {spacing.size} spacings"
            warnings.warn(f"outside the validity of sequential Landau-Zener crossings at {where}",
                          LandauZenerValidityWarning, stacklevel=4)

    # --- protocol ------------------------------------------------------------------------------
    @property
    def gap_array(self) -> np.ndarray:
        """Minimum gap delta_i of every crossing (2 * coupling unless gaps are given)."""
        return np.asarray(self.gaps if self.gaps is not None
                          else np.full(len(self.levels), 2.0 * self.coupling))

    @property
    def speed_array(self) -> np.ndarray:
        """Driving speed eps_dot_i at every crossing."""
        return np.asarray(self.speeds if self.speeds is not None
                          else np.full(len(self.levels), self.speed))

    def keep_probabilities(self) -> np.ndarray:
        """Diabatic probabilities R_i, i = 1..L (in level order)."""
        return diabatic_probability(self.gap_array, self.speed_array)

    def positions(self, direction: str = "forward") -> np.ndarray:
        """Level energies e_0 .. e_{L+1} in protocol order: start, the crossings, end."""
        forward = np.array([self.level_start, *self.levels, self.level_end])
        return forward if direction == "forward" else forward[::-1].copy()

    def _crossing_keep(self, direction):
        keep = self.keep_probabilities()
        return keep if direction == "forward" else keep[::-1].copy()

    def strokes(self, direction: str = "forward") -> "Strokes":
        """This protocol as strokes (docs/observables.md, Stroke protocols): the level empty (N = 0, E = 0) or occupied (N = 1,
        E = e), in the reservoir's grand-canonical state at e_0; an adiabatic quench to each crossing
        e_i, where the occupation is kept with probability R_i, else redrawn from f_i (a
        thermalisation of strength 1 - R_i), and a last quench to e_{L+1}.  ``chain`` is what it
        compiles to."""
        # imported here: mcthermo.exact, which the stroke engine uses, imports this module
        from ..systems.bath import Bath
        from ..systems.strokes import Quench, Strokes, Thermalize

        e = self.positions(direction)
        strokes = []
        for level, keep in zip(e[1:-1], self._crossing_keep(direction)):
            strokes += [Quench([0.0, level]), Thermalize("reservoir", 1.0 - keep)]
        strokes.append(Quench([0.0, e[-1]]))
        return Strokes(energies=[0.0, e[0]], particles=[0, 1],
                       baths={"reservoir": Bath(beta=self.beta, mu=self.mu)}, initial="reservoir",
                       strokes=strokes)

    def observables(self, direction, n_initial, n_final, work):
        e = self.positions(direction)
        log_occupied, log_empty = self.chain(direction).log_occupation_probabilities()
        chemical = self.mu * (n_final - n_initial)
        heat = e[-1] * n_final - e[0] * n_initial - work - chemical
        # ln p(n) of the initial and final occupation laws, in log space (exact for p ~ e^{-1000})
        entropy_change = (np.where(n_initial == 1, log_occupied[0], log_empty[0])
                          - np.where(n_final == 1, log_occupied[-1], log_empty[-1]))
        return {"work": work, "chemical_work": chemical, "heat": heat,
                "entropy_change": entropy_change,
                "entropy_production": entropy_change - self.beta * heat}

    # --- exact answers -------------------------------------------------------------------------
    def free_energy_change(self) -> float:
        """dOmega_eq = Omega_eq(level_end) - Omega_eq(level_start)."""
        return float(grand_potential(self.beta, self.mu, self.level_end)
                     - grand_potential(self.beta, self.mu, self.level_start))

    def occupation_probabilities(self, direction: str = "forward") -> np.ndarray:
        """p_1 .. p_{L+1}: occupation before each crossing and at the end (master equation, Eq. 1)."""
        return self.chain(direction).occupation_probabilities()

    def mean_work(self, direction: str = "forward") -> float:
        """<W_m> = sum_k (e_{k+1} - e_k) p_{k+1}."""
        return float(np.dot(np.diff(self.positions(direction)), self.occupation_probabilities(direction)))

    def work_distribution(self, direction: str = "forward") -> pd.DataFrame:
        """Exact distribution of W_m on the attainable values: columns work, probability."""
        chain = self.chain(direction)
        probability = chain.joint_pmf().sum(axis=(0, 1))
        frame = pd.DataFrame({"work": np.round(chain.work_values, 12), "probability": probability})
        frame = frame.groupby("work", as_index=False)["probability"].sum()
        return frame[frame.probability > 0].reset_index(drop=True)

    def crossings(self, direction: str = "forward") -> pd.DataFrame:
        """Per crossing i (interval i+): p_i, p_{i+1}, E_i, N_i, S_i, W_m, W_c, Q, Sigma (Eqs. 6, 7).

        W_m = (e_{i+1} - e_i) p_{i+1}, W_c = mu (p_{i+1} - p_i), Q = (e_i - mu)(p_{i+1} - p_i);
        first law dE = W_m + W_c + Q and second law dS = Sigma + beta Q are reported as residuals.
        Eq. (7): Sigma = beta [W_m - (Omega_{i+1} - Omega_i)] - D(p_{i+1} || f_{i+1}) + D(p_i || f_i)
        with f_{L+1} = f(level_end).
        """
        beta, mu = self.beta, self.mu
        e = self.positions(direction)
        p = self.occupation_probabilities(direction)
        here, after = e[1:-1], e[2:]
        before_p, after_p = p[:-1], p[1:]
        x, x_next = thermal_log_odds(beta, mu, here), thermal_log_odds(beta, mu, after)
        keep = self._crossing_keep(direction)
        mechanical = (after - here) * after_p
        chemical = mu * (after_p - before_p)
        heat = (here - mu) * (after_p - before_p)
        sigma = crossing_entropy_production(before_p, keep, x)
        dissipated = mechanical - (grand_potential(beta, mu, after) - grand_potential(beta, mu, here))
        sigma_eq7 = (beta * dissipated - relative_entropy_to_thermal(after_p, x_next)
                     + relative_entropy_to_thermal(before_p, x))
        return pd.DataFrame({
            "direction": direction,
            "crossing": np.arange(1, here.size + 1) if direction == "forward" else np.arange(here.size, 0, -1),
            "level": here, "keep": keep, "thermal_occupation": expit(x),
            "occupation": before_p, "occupation_after": after_p,
            "energy": here * before_p, "particles": before_p, "entropy": shannon_entropy(before_p),
            "mechanical_work": mechanical, "chemical_work": chemical, "heat": heat,
            "entropy_production": sigma, "entropy_production_eq7": sigma_eq7,
            "first_law_residual": after * after_p - here * before_p - (mechanical + chemical + heat),
            "second_law_residual": (shannon_entropy(after_p) - shannon_entropy(before_p)
                                    - (sigma + beta * heat)),
            "exact": True,
        })

    def results(self, accumulators):
        """The chain's results plus the integral FT <e^{-sigma}> against its exact value (computed
        from the exact law of sigma, not assumed 1) and the per-crossing table."""
        out = super().results(accumulators)
        for declared in out.directions.values():
            declared.integral_ft = declared.observable("entropy_production").log_exponential_average(1.0)
        out.extra_tables["crossings"] = pd.concat([self.crossings(d) for d in accumulators],
                                                  ignore_index=True)
        return out

    # --- continuous-time limit -------------------------------------------------------------------
    def golden_rule_limit(self, direction: str = "forward"):
        """The Fermi-golden-rule limit of these crossings (seed Sec. VI): ``exact/golden_rule.py``."""
        from ..exact.golden_rule import golden_rule_limit  # golden_rule builds on this module

        return golden_rule_limit(self, direction)
