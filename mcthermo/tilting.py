"""Tilted (Doob) sampling with exact weights, reweighted by MBAR: fluctuation theorems tested where
plain sampling cannot reach (README, "Tails with power: tilted sampling").

``mt.sample(spec, trajectories, seed, tilt={"work": 0.8})`` samples, per direction, the plain
ensemble and one ensemble per tilt s of the observable X (a list of tilts: a ladder), each of
``trajectories`` trajectories.  Ensemble s draws paths from Q(path) = P(path) e^{-sX} / G(s)
exactly: the finite-time Doob transform of the chain (backward functions h_n of the tilted transfer
matrices, in log space) is just another set of per-step stochastic matrices, compiled into the same
kernel tables as the plain protocol; every trajectory carries the exact log-weight
ln P/Q = ln G(s) + sX (the ``log_weight`` column of the samples).  Chains and stroke protocols
(``Staircase``, ``LandauZener``, ``Strokes``); jump systems (``OpenSystem``, ``FloquetSystem``) have
their own engine, proposal unravellings with exact replayed weights (``systems/open_tilting.py``),
registered in ``ENGINES``.

The sampler is tested, not the exact numbers: the reweighted law p(c) of the histogram cells is the
MBAR estimate from all ensembles with the normalisations G(s) taken from the data
(``mcthermo.reweighting``), and only then compared with the exact answers.  Tables of a tilted run
(every summary / checks row has a ``tilt`` column: "" for the plain ensemble, "X=s" for a tilted
one, "X=s1,s2,...(reweighted)" for rows of the reweighted estimate):

* per tilted ensemble, the histogram / summary / distribution check of X against the exact tilted
  law P(X) e^{-sX} / G(s) -- what catches a wrong sampler (a transition probability 2 % off);
* ``reweighted``: the reweighted law of X per atom (columns direction, observable, value,
  probability, stderr, probability_exact), reaching the tails the tilts reach (1e-30 and below);
* ``jarzynski`` / ``integral_ft`` rows from the reweighted estimates, judged by z-scores whose
  stderr is the exact asymptotic MBAR variance (from the exact cell law; from the data without it);
  with both directions a ``crooks`` row from the two reweighted work laws (``reweighted_crooks``;
  ``crooks_row`` is shared with the jump systems' engine).

Protocols whose histogram box is too large to hold count histogram keys instead (float rows
(key, count), exact below 2**53); their tilted ensembles are checked against the exact tilted mean
and variance (no exact cell law there).

``tilt="auto"`` picks the ladder for the Jarzynski row (X = work, target s = beta, when the
protocol starts in the Gibbs state of its one bath) or else the integral FT row (X = entropy
production, target s = 1); "auto:jarzynski" / "auto:integral_ft" name the row.  The top rung s < target is where the a-priori relative variance of the
exact-weight estimator, G(s)G(2 target - s)/G(target)^2 - 1 (decreasing to 0 at the target),
equals ``RELATIVE_VARIANCE``: close to the target, never at it (the zero-variance tilt: there every
exact-weighted sample equals G(target) and the row would only repeat the exact number).  Below it,
the fewest equally spaced rungs s_k = top k / K whose neighbours overlap (relative variance of the
better one-sided exponential average between neighbours <= 1).  Each direction gets its own
ladder (``reverse_tilts``).  The a-priori relative variance is printed and stored in run.json with
the tilt.

What a model provides to be tilted (``Strokes`` and the chain models do; another engine -- e.g. jump
systems -- can implement the same): ``log_generating_function(observable, s, direction)``;
``tilt_cells(direction, keys=None)`` -> (every observable's value per histogram cell, exact ln P per
cell or None); ``cell_counts(accumulator)`` -> the plain accumulator's counts per cell;
``tilted_counts(direction, observable, s, seed, stream, first, count)`` -> int64 counts per cell of
that many trajectories of the tilted law; ``tilted_samples(...)`` -> their per-trajectory rows;
``tilted_moments(observable, s, direction)`` -> the exact tilted mean and variance (used where there
is no exact cell law); optionally ``tilt_keyed(direction)`` and ``tilted_keys(...)`` to count
histogram keys (float rows (key, count)) instead of a histogram.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import chi2 as chi2_distribution

from . import checks as _checks
from . import reweighting
from .model import STREAMS, Model
from .results import DirectionResults, Observable, Results
from .stats import Estimate, lattice_groups, log_group_sum

#: a-priori relative variance G(s)G(2 target - s)/G(target)^2 - 1 of the top rung of an automatic
#: ladder: close to the target (power), never at it (zero variance, no test of the sampler)
RELATIVE_VARIANCE = 0.1
#: ``tilt`` values that choose the ladder: for the Jarzynski row where it applies, else the integral
#: FT; or for the named row
AUTO_ROWS = ("auto", "auto:jarzynski", "auto:integral_ft")
#: most rungs of an automatic ladder
MAX_RUNGS = 16
#: largest relative variance of a one-sided exponential average between neighbouring rungs
MAX_NEIGHBOUR_VARIANCE = 1.0


def tilt_label(observable: str, tilts) -> str:
    return f"{observable}=" + ",".join(f"{s:.6g}" for s in tilts)


@dataclass(frozen=True, eq=False)
class Tilted(Model):
    """A spec sampled plain and under the tilts ``tilts`` of ``observable`` (see the module
    docstring); ``reverse_tilts``: the reverse direction's, when they differ (``tilt="auto"``
    chooses each direction's ladder).  ``target``: (row, s) the ladder was chosen for, or None;
    ``relative_variance``: the a-priori relative variance of the exact-weight estimator at the top
    rung (forward; ``reverse_relative_variance`` the reverse direction's)."""

    spec: Model
    observable: str
    tilts: tuple
    target: tuple | None = None
    relative_variance: float | None = None
    reverse_tilts: tuple | None = None
    reverse_relative_variance: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "tilts", _ladder(self.tilts))
        if self.reverse_tilts is not None:
            object.__setattr__(self, "reverse_tilts", _ladder(self.reverse_tilts))
        for attribute in ("tilt_cells", "tilted_counts", "log_generating_function"):
            if not hasattr(self.spec, attribute):
                raise ValueError(f"{self.spec.name}: tilted sampling is implemented for chains and stroke "
                                 "protocols (Staircase, LandauZener, Strokes) only")
        self.spec.log_generating_function(self.observable, 0.0)  # ValueError naming a missing observable

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def block_size(self) -> int:
        return self.spec.block_size

    @property
    def extra_tables(self) -> tuple[str, ...]:
        return (*self.spec.extra_tables, "reweighted")

    def tilts_of(self, direction: str) -> tuple:
        return self.reverse_tilts if direction == "reverse" and self.reverse_tilts is not None else self.tilts

    def record(self) -> dict:
        """What run.json stores of the tilt (part of the run's identity)."""
        record = {"observable": self.observable, "tilts": list(self.tilts),
                  "target": None if self.target is None else list(self.target),
                  "relative_variance": self.relative_variance}
        if self.reverse_tilts is not None:
            record.update(reverse_tilts=list(self.reverse_tilts),
                          reverse_relative_variance=self.reverse_relative_variance)
        return record

    def parameters(self) -> dict:
        return self.spec.parameters()

    def directions(self, reverse: bool) -> list[str]:
        return self.spec.directions(reverse)

    def steps_per_trajectory(self) -> float:
        return self.spec.steps_per_trajectory() * (1 + max(len(self.tilts), len(self.tilts_of("reverse"))))

    def check_tables_feasible(self) -> None:
        self.spec.check_tables_feasible()
        self.keyed("forward")

    def keyed(self, direction: str) -> bool:
        """Whether the ensembles count histogram keys (the box is too large to hold; no exact law)."""
        keyed = getattr(self.spec, "tilt_keyed", None)
        return bool(keyed(direction)) if keyed is not None else False

    def stream(self, direction: str, k: int) -> int:
        """RNG stream of tilted ensemble k (the plain ensemble keeps the plain run's stream)."""
        return STREAMS[direction] + 2 * (k + 1)

    def accumulate(self, direction, seed, first, count):
        out = dict(self.spec.accumulate(direction, seed, first, count))
        tilts = self.tilts_of(direction)
        if self.keyed(direction):
            out["keys_plain"] = self.spec.tilted_keys(direction, None, 0.0, seed, STREAMS[direction], first, count)
            for k, s in enumerate(tilts):
                out[f"keys_{k}"] = self.spec.tilted_keys(direction, self.observable, s, seed,
                                                         self.stream(direction, k), first, count)
            return out
        for k, s in enumerate(tilts):
            out[f"tilted_{k}"] = self.spec.tilted_counts(direction, self.observable, s, seed,
                                                         self.stream(direction, k), first, count)
        return out

    def samples(self, direction, seed, first, count):
        """Rows of every ensemble: ``tilt`` ("" plain) and ``log_weight`` = ln P/Q = ln G(s) + sX."""
        frames = [self.spec.samples(direction, seed, first, count).assign(tilt="", log_weight=0.0)]
        for k, s in enumerate(self.tilts_of(direction)):
            frame = self.spec.tilted_samples(direction, self.observable, s, seed, self.stream(direction, k),
                                             first, count)
            log_g = self.spec.log_generating_function(self.observable, s, direction)
            frames.append(frame.assign(tilt=tilt_label(self.observable, [s]),
                                       log_weight=log_g + s * frame[self.observable].to_numpy()))
        return pd.concat(frames, ignore_index=True)

    def results(self, accumulators) -> Results:
        plain = self.spec.results({direction: {key: value for key, value in accumulator.items()
                                               if not key.startswith(("tilted_", "keys_"))}
                                   for direction, accumulator in accumulators.items()})
        ensembles, rows, laws, solutions = {}, [], [], {}
        for direction, accumulator in accumulators.items():
            tilts = self.tilts_of(direction)
            if "keys_plain" in accumulator:
                cells, counts = _key_counts([accumulator["keys_plain"]] + [accumulator[f"keys_{k}"]
                                                                           for k in range(len(tilts))])
                values, log_p = self.spec.tilt_cells(direction, cells)
            else:
                values, log_p = self.spec.tilt_cells(direction)
                counts = np.vstack([self.spec.cell_counts(accumulator)]
                                   + [accumulator[f"tilted_{k}"] for k in range(len(tilts))])
            x = values[self.observable]
            log_g = np.array([self.spec.log_generating_function(self.observable, s, direction)
                              for s in tilts])
            for k, s in enumerate(tilts):
                label = tilt_label(self.observable, [s])
                if log_p is None:  # no exact cell law: the exact tilted mean and variance
                    moments = self.spec.tilted_moments(self.observable, s, direction)
                    observable = _observable(self.observable, x, counts[k + 1], None, moments)
                else:
                    observable = _observable(self.observable, x, counts[k + 1], log_p - s * x - log_g[k])
                ensembles.setdefault(label, {})[direction] = observable
            declared = plain.directions[direction]
            try:
                solved = reweighting.solve((0.0, *tilts), x, counts)
            except ValueError as error:
                rows += [_checks.row(check, direction, name, verdict="inconclusive", reason=str(error))
                         for check, name in (("jarzynski", "work"), ("integral_ft", "entropy_production"))]
                continue
            exact_g = np.concatenate([[0.0], log_g])
            if "work" in values:
                solutions[direction] = (solved, values["work"])
            laws.append(reweighted_law(direction, self.observable, x, solved, log_p, exact_g))
            if declared.jarzynski is not None and "work" in values:
                beta, free_energy_change = declared.jarzynski
                rows.append({**reweighted_row("jarzynski", direction, "work", values["work"], beta,
                                              free_energy_change, solved, log_p, exact_g), "beta": beta})
            if "entropy_production" in values:  # against the exact ln<e^{-sigma}>
                expected = self.spec.log_generating_function("entropy_production", 1.0, direction)
                rows.append(reweighted_row("integral_ft", direction, "entropy_production",
                                           values["entropy_production"], 1.0, -expected, solved, log_p, exact_g))
        if set(solutions) == {"forward", "reverse"} and isinstance(plain.bar_crooks, tuple):
            beta, free_energy_change = plain.bar_crooks
            rows.append({**reweighted_crooks(solutions["forward"], solutions["reverse"], beta,
                                             free_energy_change), "beta": beta})
        for row in rows:
            reverse = row["direction"] == "reverse"
            row.update(tilt=tilt_label(self.observable, self.tilts_of(row["direction"])) + "(reweighted)",
                       relative_variance_apriori=self.reverse_relative_variance if reverse and
                       self.reverse_tilts is not None else self.relative_variance)
        tilted = {name: Results({direction: DirectionResults([observable]) for direction, observable in parts.items()})
                  for name, parts in ensembles.items()}
        extra = dict(plain.extra_tables)
        extra["reweighted"] = pd.concat(laws, ignore_index=True) if laws else pd.DataFrame(
            columns=REWEIGHTED_COLUMNS)
        return Results(plain.directions, bar_crooks=plain.bar_crooks, extra_tables=extra,
                       tilted=tilted, extra_checks=rows)


def _ladder(tilts) -> tuple:
    try:
        if tilts is None or isinstance(tilts, str):
            raise TypeError
        tilts = tuple(float(s) for s in np.atleast_1d(np.asarray(tilts, dtype=np.float64)))
    except (TypeError, ValueError):
        raise ValueError(f"tilts must be distinct finite non-zero numbers (got {tilts!r})") from None
    if not tilts or not all(np.isfinite(tilts)) or 0.0 in tilts or len(set(tilts)) != len(tilts):
        raise ValueError(f"tilts must be distinct finite non-zero numbers (got {tilts!r}); "
                         "the plain ensemble (tilt 0) is always sampled")
    return tilts


REWEIGHTED_COLUMNS = ["direction", "observable", "value", "probability", "stderr", "probability_exact"]


def _key_counts(parts):
    """(sorted distinct keys, int64 counts (ensembles, keys)) from each ensemble's merged float rows
    (key, count) -- one key can appear in several chunks' rows."""
    cells = np.unique(np.concatenate([part[:, 0] for part in parts])).astype(np.int64)
    counts = np.vstack([np.bincount(np.searchsorted(cells, part[:, 0].astype(np.int64)), part[:, 1], cells.size)
                        for part in parts])
    return cells, np.rint(counts).astype(np.int64)


def _observable(name, x, counts, log_p, moments=None) -> Observable:
    """A tilted ensemble's histogram of X: against its exact tilted law (distribution check), or
    without one against the exact tilted mean and variance ``moments``."""
    values, inverse = lattice_groups(x)
    count = np.bincount(inverse, counts, values.size).astype(np.int64)
    if log_p is None:
        seen = count > 0
        return Observable(name, values[seen], count[seen], mean_exact=moments[0], variance_exact=moments[1],
                          checks=("mean", "variance"))
    law = log_group_sum(inverse, log_p, values.size)
    seen = (count > 0) | (law > -np.inf)
    return Observable(name, values[seen], count[seen], law[seen], checks=("distribution",))


def reweighted_law(direction, name, x, solved: reweighting.Reweighted, log_p, exact_g) -> pd.DataFrame:
    """Per atom of X: the reweighted probability, its stderr (asymptotic MBAR, from the data) and
    the exact probability.  Atoms no ensemble reached have probability 0 and no stderr."""
    values, inverse = lattice_groups(x)
    estimate = log_group_sum(inverse, solved.log_p, values.size)
    exact = None if log_p is None else log_group_sum(inverse, log_p, values.size)
    stderr = np.exp(estimate) * np.sqrt(reweighting.atom_log_variances(solved, inverse, values.size))
    keep = (estimate > -np.inf) if exact is None else (estimate > -np.inf) | (exact > -np.inf)
    return pd.DataFrame({"direction": direction, "observable": name, "value": values[keep],
                         "probability": np.exp(estimate[keep]), "stderr": stderr[keep],
                         "probability_exact": np.exp(exact[keep]) if exact is not None else np.nan})


def reweighted_row(check, direction, name, x, beta, expected, solved, log_p, exact_g) -> dict:
    """-ln<e^{-beta X}>/beta from the reweighted cell law against ``expected``; stderr from the
    exact asymptotic MBAR variance (the data's without the exact cell law).  Inconclusive when
    ``checks.power_problem`` finds that 5 stderr exceed the detectable deviation."""
    log_a = -beta * x
    log_average = solved.log_average(log_a)
    if log_p is not None:
        variance, source = solved.log_average_variance(log_a, log_p, exact_g), "exact"
    else:
        variance, source = solved.log_average_variance(log_a), "data"
    n = int(solved.counts.sum())
    est = Estimate.normal(-log_average / beta, np.sqrt(variance) / beta, n)
    z = est.z(expected) if np.isfinite(expected) else np.nan
    judged = _checks._judged(check, direction, name, est, expected, z, stderr_source=source)
    return _checks._unless(_checks.power_problem(est.stderr, 0.0, beta), judged)


#: largest relative stderr of a reweighted atom probability used by the Crooks row
CROOKS_RELATIVE_STDERR = 0.2


class WorkLaw(NamedTuple):
    """A reweighted work law of one direction for ``crooks_row``: the distinct work values (sorted),
    ln P per value, Var(ln P-hat) per value, and ``covariance(indices)`` -> Cov(ln P-hat) of those
    values (the estimator's own, shared normalisation errors included)."""

    values: np.ndarray
    log_p: np.ndarray
    log_variance: np.ndarray
    covariance: object


#: the per-value dF_W of the Crooks row disagree grossly (chi2 about their mean beyond this z): some
#: value's paths were reached by no ensemble.  The atoms' stderrs are asymptotic (a log at 20 %
#: relative stderr is skewed), so this is a detector of gross failures, not a test: correct MBAR
#: runs (staircase N = 10, tilts 1, 2, 12 seeds) reach z = 6.1 (p = 5e-10); a jump-system ladder up
#: to s = 1.94 at beta = 2 that misses 70 % of a tail atom's paths gives p = 3e-52
CROOKS_CONSISTENCY_Z = 8.0


def reweighted_crooks(forward, reverse, beta, expected) -> dict:
    """Crooks from the MBAR-reweighted work laws of both directions (each (MBAR solution, work per
    cell)): ``crooks_row`` with the full MBAR covariance of the atoms' ln P in each direction."""
    laws = []
    for solved, work in (forward, reverse):
        values, inverse = lattice_groups(work)
        laws.append(WorkLaw(values, log_group_sum(inverse, solved.log_p, values.size),
                            reweighting.atom_log_variances(solved, inverse, values.size),
                            lambda atoms, solved=solved, inverse=inverse, size=values.size:
                            reweighting.atom_log_covariance(solved, inverse, size, atoms)))
    n = int(forward[0].counts.sum() + reverse[0].counts.sum())
    return crooks_row(laws[0], laws[1], beta, expected, n)


def crooks_row(forward: WorkLaw, reverse: WorkLaw, beta, expected, n) -> dict:
    """Crooks from the reweighted work laws of both directions: every work value W reached forward
    whose -W is reached in reverse (both probabilities known to ``CROOKS_RELATIVE_STDERR``) gives
    dF_W = W - ln(P_F(W) / P_R(-W)) / beta; their inverse-variance weighted mean against the exact
    dF, its stderr from each direction's covariance of the atoms' ln P (the directions are
    independent).  The dF_W must agree with each other within that covariance (chi2 about the
    mean: ``statistic``, ``dof``, ``p_value``); beyond ``CROOKS_CONSISTENCY_Z`` the row is
    inconclusive (some value's paths were missed by every ensemble: its stderr from the data is
    not to be trusted).  ``n``: trajectories of both directions."""
    f_values, f_log = forward.values, forward.log_p
    r_values, r_log = reverse.values, reverse.log_p
    scale = max(1.0, float(np.abs(f_values).max(initial=0.0)))
    where = np.searchsorted(r_values, -f_values)
    where = np.clip(where, 0, max(r_values.size - 1, 0))
    match = (r_values.size > 0) & (np.abs(r_values[where] + f_values) <= 1e-9 * scale)
    pairs = np.flatnonzero(match & (f_log > -np.inf) & (r_log[where] > -np.inf))
    if pairs.size == 0:
        return _checks.row("crooks", "both", "work", verdict="inconclusive", trajectories=n,
                           reason="no work value reached forward whose negative is reached in reverse")
    # atoms whose ln P is near-normal in both directions: relative stderr <= CROOKS_RELATIVE_STDERR
    # (a log of a handful of counts is skewed)
    partner = where[pairs]
    with np.errstate(invalid="ignore"):
        precise = ((forward.log_variance[pairs] <= CROOKS_RELATIVE_STDERR**2)
                   & (reverse.log_variance[partner] <= CROOKS_RELATIVE_STDERR**2))
    pairs, partner = pairs[precise], partner[precise]
    if pairs.size == 0:
        return _checks.row("crooks", "both", "work", verdict="inconclusive", trajectories=n,
                           reason=f"no work value W with P_F(W) and P_R(-W) both known to "
                                  f"{CROOKS_RELATIVE_STDERR:.0%}")
    covariance = (forward.covariance(pairs) + reverse.covariance(partner)) / beta**2
    estimates = f_values[pairs] - (f_log[pairs] - r_log[partner]) / beta
    inverse_variance = 1.0 / np.maximum(np.diag(covariance), 1e-300)
    c = inverse_variance / inverse_variance.sum()
    est = Estimate.normal(float(c @ estimates), float(np.sqrt(max(c @ covariance @ c, 0.0))), n)
    z = est.z(expected) if np.isfinite(expected) else np.nan
    statistic, dof, p_value = _consistency(estimates - est.value, covariance)
    judged = _checks._judged("crooks", "both", "work", est, expected, z, stderr_source="data",
                             atoms=int(pairs.size), statistic=statistic, dof=dof, p_value=p_value)
    problem = _checks.power_problem(est.stderr, 0.0, beta)
    if not problem and _checks._p_to_z(p_value) > CROOKS_CONSISTENCY_Z:
        # the estimate is consistent only if every work value agrees within its stderr from the
        # data; one that does not means paths that carry it were reached by no ensemble (a stderr
        # from the data cannot see them: the estimate is not judged)
        problem = (f"the work values' dF_W disagree beyond their stderr (chi2 = {statistic:.3g}, dof {dof}, "
                   f"p = {p_value:.2g}): paths that carry some of them were reached by no ensemble")
    return _checks._unless(problem, judged)


def _consistency(deviations, covariance) -> tuple[float, int, float]:
    """(chi2, dof, p) of the per-value estimates about their weighted mean (directions of the
    covariance below 1e-9 of its largest eigenvalue dropped; one dof for the mean)."""
    if deviations.size < 2:
        return 0.0, 0, 1.0
    eigenvalues, vectors = np.linalg.eigh(covariance)
    kept = eigenvalues > 1e-9 * eigenvalues.max()
    projected = vectors[:, kept].T @ deviations
    statistic = float(np.sum(projected**2 / eigenvalues[kept]))
    dof = max(int(kept.sum()) - 1, 1)
    return statistic, dof, float(chi2_distribution.sf(statistic, dof))


# --- choosing the tilt ----------------------------------------------------------------------
def jarzynski_beta(spec) -> float | None:
    """beta of the Jarzynski row when it applies to ``spec``, else None."""
    gibbs = getattr(spec, "gibbs_bath", None)
    if callable(gibbs):
        bath = gibbs()
        return None if bath is None else spec.baths[bath].beta
    return getattr(spec, "beta", None)


def auto_ladder(spec, observable: str, target: float, direction: str = "forward") -> tuple[tuple, float]:
    """(rungs, a-priori relative variance at the top rung) for the row whose exponential average is
    <e^{-target X}> (see the module docstring)."""
    def log_g(s):
        return spec.log_generating_function(observable, s, direction)

    def log_ratio(s):  # ln G(s) G(2 target - s) / G(target)^2, decreasing to 0 on [0, target]
        return float(log_g(s) + log_g(2 * target - s) - 2 * log_g(target))

    def relative(s):
        return float(np.expm1(log_ratio(s)))

    goal = np.log1p(RELATIVE_VARIANCE)
    if log_ratio(0.0) <= goal:
        top = target / 2
    else:
        top = brentq(lambda s: log_ratio(s) - goal, 0.0, target, xtol=1e-12 * abs(target))
    for rungs in range(1, MAX_RUNGS + 1):
        ladder = top * np.arange(1, rungs + 1) / rungs
        points = np.concatenate([[0.0], ladder])
        worst = 0.0
        for a, b in zip(points, points[1:]):
            forward = log_g(a) + log_g(2 * b - a) - 2 * log_g(b)   # from ensemble a to b
            backward = log_g(b) + log_g(2 * a - b) - 2 * log_g(a)  # from b to a
            worst = max(worst, np.expm1(min(forward, backward)))
        if worst <= MAX_NEIGHBOUR_VARIANCE:
            break
    return tuple(float(s) for s in ladder), relative(top)


#: tilted-sampling engines of other kernels, as (accepts(spec) -> bool, engine class): each engine's
#: module registers itself (``systems/open_tilting.py``: jump systems), so this layer imports no
#: system; ``Tilted`` (stroke protocols and chains) is the default
ENGINES: list = []


def tilted_spec(spec, tilt, quiet: bool = False) -> Tilted:
    """The ``Tilted`` model of ``mt.sample(..., tilt=...)``: a dict {observable: s or [s, ...]}, or
    "auto" (see the module docstring).  Jump systems (``OpenSystem``, ``FloquetSystem``) get the
    proposal-unravelling engine ``systems.open_tilting.JumpTilted``."""
    if isinstance(tilt, Tilted):
        return tilt
    engine = next((engine for accepts, engine in ENGINES if accepts(spec)), Tilted)
    if isinstance(tilt, str) and tilt in AUTO_ROWS:
        beta = jarzynski_beta(spec) if engine is Tilted else engine.jarzynski_beta(spec)
        row = tilt.partition(":")[2] or ("jarzynski" if beta is not None else "integral_ft")
        if row == "jarzynski" and beta is None:
            raise ValueError("tilt 'auto:jarzynski': Jarzynski does not apply to this protocol (it needs "
                             "a Gibbs start in its one bath); use 'auto:integral_ft'")
        observable, target = ("work", beta) if row == "jarzynski" else ("entropy_production", 1.0)
        rungs, relative = auto_ladder(spec, observable, target)
        try:
            reverse_rungs, reverse_relative = auto_ladder(spec, observable, target, "reverse")
        except ValueError:  # no reverse protocol (a jump system with several baths): forward only
            reverse_rungs = reverse_relative = None
        if engine is not Tilted:  # the exact-Doob variance is no figure of a proposal: its own
            tilted = engine(spec, observable, rungs, (row, float(target)), reverse_tilts=reverse_rungs)
            forward = tilted.row_relative_variance("forward", observable, float(target))
            reverse = (None if reverse_rungs is None
                       else tilted.row_relative_variance("reverse", observable, float(target)))
            object.__setattr__(tilted, "relative_variance", forward)
            object.__setattr__(tilted, "reverse_relative_variance", reverse)
            if not quiet:
                print(f"mcthermo: tilt auto for {row}: {tilt_label(observable, rungs)}"
                      + ("" if reverse_rungs is None else f" (reverse: {tilt_label(observable, reverse_rungs)})")
                      + ("" if forward is None else
                         f"; exact a-priori relative variance of the reweighted estimate x trajectories "
                         f"per ensemble {forward:.3g}" + ("" if reverse is None else f" (reverse {reverse:.3g})")),
                      file=sys.stderr)
            return tilted
        if not quiet:
            print(f"mcthermo: tilt auto for {row}: {tilt_label(observable, rungs)} (reverse: "
                  f"{tilt_label(observable, reverse_rungs)}); a-priori relative variance of the "
                  f"reweighted estimator G(s)G(2*{target:g}-s)/G({target:g})^2 - 1 = {relative:.3g} "
                  f"(reverse {reverse_relative:.3g})", file=sys.stderr)
        return Tilted(spec, observable, rungs, (row, float(target)), relative, reverse_rungs, reverse_relative)
    if not isinstance(tilt, dict) or len(tilt) != 1:
        raise ValueError(f'tilt must be "auto", "auto:jarzynski", "auto:integral_ft" or one '
                         f'{{observable: s or [s, ...]}} (got {tilt!r})')
    (observable, tilts), = tilt.items()
    return engine(spec, observable, tuple(np.atleast_1d(tilts)))


def parse_tilt(text: str):
    """The CLI's --tilt: "auto", "auto:jarzynski", "auto:integral_ft" or OBSERVABLE=S[,S...]."""
    if text in AUTO_ROWS:
        return text
    name, _, values = text.partition("=")
    try:
        tilts = [float(v) for v in values.split(",")]
    except ValueError:
        tilts = None
    if not name or not tilts:
        raise ValueError(f"--tilt must be auto, auto:jarzynski, auto:integral_ft or OBSERVABLE=S[,S...] "
                         f"(got {text!r})")
    return {name: tilts}
