"""The one table builder: a model's declared ``Results`` -> histogram, summary and checks tables.

Every model declares, per direction, its observables (counts on exact atoms beside the exact law in
log space, or sample moments beside exact moments) and which theorems apply (``mcthermo.results``);
this module alone turns that into the Parquet tables of the contract (DESIGN.md) and asks
``mcthermo.checks`` for one verdict row per check.  Units hbar = k_B = 1; heat is energy into the
system (docs/observables.md, Conventions).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import checks as _checks
from .results import DirectionResults, Observable, Results
from .stats import variance_from_sums

HISTOGRAM_COLUMNS = ["direction", "observable", "value", "bin_low", "bin_high", "count",
                     "probability", "probability_exact"]
#: ``condition``: "" for an observable of every trajectory, else the event it is conditioned on
#: (e.g. "heat_hot != 0"; ``trajectories`` then counts the trajectories meeting it)
SUMMARY_COLUMNS = ["direction", "observable", "trajectories", "mean", "std", "stderr",
                   "mean_exact", "std_exact", "condition"]

#: check name -> row builder for one observable
_OBSERVABLE_CHECKS = {
    "mean": _checks.mean_check,
    "variance": _checks.variance_check,
    "distribution": _checks.distribution_check,
}


def build(results: Results) -> dict[str, pd.DataFrame]:
    """histogram / summary / checks (and the model's extra tables) from declared results."""
    histogram, summary, rows = [], [], []
    for direction, declared in results.directions.items():
        for observable in declared.observables:
            if observable.histogrammed:
                histogram.append(histogram_rows(direction, observable))
            summary.append(summary_row(direction, observable))
            if declared.no_exact_reference and observable.exact_moments() is None and not observable.has_law:
                rows += [_checks.not_applicable(name, direction, observable.name, declared.no_exact_reference)
                         for name in observable.checks]
            else:
                rows += [observable_check(name, direction, observable) for name in observable.checks]
        rows += theorem_rows(direction, declared)
    if isinstance(results.bar_crooks, str):
        rows += [_checks.not_applicable(check, "both", "work", results.bar_crooks)
                 for check in ("bar", "crooks")]
    elif results.bar_crooks is not None and {"forward", "reverse"} <= set(results.directions):
        beta, free_energy_change = results.bar_crooks
        forward = results.directions["forward"].observable("work")
        reverse = results.directions["reverse"].observable("work")
        if forward.histogrammed and reverse.histogrammed:
            rows.append({**_checks.bar_check(forward, reverse, beta, free_energy_change), "beta": beta})
            rows += [{**row, "beta": beta}
                     for row in _checks.crooks_checks(forward, reverse, beta, free_energy_change)]
        else:                       # off the lattice: exponential sums and exact G(s) of the work
            rows += [{**check(forward, reverse, beta, free_energy_change), "beta": beta}
                     for check in (_checks.generating_bar_check, _checks.generating_crooks_check)]
    tables = {
        "histogram": (pd.concat(histogram, ignore_index=True) if histogram
                      else pd.DataFrame(columns=HISTOGRAM_COLUMNS)),
        "summary": pd.DataFrame(summary, columns=SUMMARY_COLUMNS),
        "checks": pd.DataFrame(rows),
        **results.extra_tables,
    }
    # ``tilt``: "" for the rows of a plain ensemble; a tilted run's tilted and reweighted rows say
    # which tilt they belong to (``mcthermo.tilting``)
    for name in ("summary", "checks"):
        tables[name] = tables[name].assign(tilt="")
    if results.tilted or results.extra_checks:
        tables = _with_tilts(tables, results)
    return tables


def _with_tilts(tables: dict, results: Results) -> dict[str, pd.DataFrame]:
    """A tilted run: the plain tables (tilt "") and each tilted ensemble's (tilt = its label) in
    one histogram / summary / checks, then the reweighted check rows (which carry their label)."""
    parts = {name: [tables[name].assign(tilt="")] for name in ("histogram", "summary", "checks")}
    for label, declared in results.tilted.items():
        for name, frame in build(declared).items():
            parts[name].append(frame.assign(tilt=label))
    parts["checks"].append(pd.DataFrame(results.extra_checks))
    return {**tables, **{name: pd.concat([f for f in frames if len(f)], ignore_index=True)
                         for name, frames in parts.items()}}


def observable_check(name: str, direction: str, observable: Observable) -> dict:
    """One check row of one observable.  A conditioned observable's rows carry its ``condition``
    (their ``trajectories`` is the number meeting it: the check is conditional on that number) and
    say so in their reason; with no trajectory meeting it the row is inconclusive."""
    if observable.condition is None:
        return _OBSERVABLE_CHECKS[name](direction, observable)
    if observable.n == 0:
        check = _checks.row(name, direction, observable.name, verdict="inconclusive",
                            reason=f"no trajectory with {observable.condition}")
    else:
        check = _OBSERVABLE_CHECKS[name](direction, observable)
        if check["reason"]:
            check["reason"] += f" (over the {observable.n} trajectories with {observable.condition})"
    return {**check, "condition": observable.condition}


def theorem_rows(direction: str, declared: DirectionResults) -> list[dict]:
    """Jarzynski, the integral fluctuation theorem, expectation values, exact identities and the
    second law of declared entropy-production series."""
    rows = []
    if isinstance(declared.jarzynski, str):
        rows.append(_checks.not_applicable("jarzynski", direction, "work", declared.jarzynski))
    elif declared.jarzynski is not None:
        beta, free_energy_change = declared.jarzynski
        rows.append({**_checks.jarzynski_check(direction, declared.observable("work"), beta,
                                               free_energy_change), "beta": beta})
    if isinstance(declared.integral_ft, str):
        rows.append(_checks.not_applicable("integral_ft", direction, "entropy_production",
                                           declared.integral_ft))
    elif declared.integral_ft is not None:
        rows.append(_checks.integral_ft_check(direction, declared.observable("entropy_production"),
                                              declared.integral_ft))
    rows += [_checks.not_applicable(e.check, direction, e.observable, declared.no_exact_reference)
             if declared.no_exact_reference else _checks.expectation_check(e) for e in declared.expectations]
    if declared.engine_efficiency is not None:
        rows.append(_checks.engine_efficiency_check(direction, declared.engine_efficiency))
    rows += [_checks.exact_count_check(count) for count in declared.exact_counts]
    rows += [_checks.second_law_check(direction, law.observable, law.entropy_production, law.times,
                                      binding=law.binding) for law in declared.second_laws]
    return rows


def histogram_rows(direction: str, observable: Observable) -> pd.DataFrame:
    """One row per atom that was sampled or has exact mass (bin_low = bin_high = value)."""
    values, counts = observable.values, observable.counts
    probability_exact = observable.probability_exact
    keep = counts > 0
    if probability_exact is not None:
        keep |= probability_exact > 0
    n = observable.n
    return pd.DataFrame({
        "direction": direction,
        "observable": observable.name,
        "value": values[keep],
        "bin_low": values[keep],
        "bin_high": values[keep],
        "count": counts[keep],
        "probability": counts[keep] / n if n else np.nan,
        "probability_exact": (probability_exact[keep] if probability_exact is not None
                              else np.full(int(keep.sum()), np.nan)),
    })


def summary_row(direction: str, observable: Observable) -> dict:
    """Sample mean, std (1/(n-1)) and stderr beside the exact mean and std (NaN where n is too small;
    n = 0 happens for a conditioned observable)."""
    n = observable.n
    if n == 0:
        mean = square = np.nan
    elif observable.histogrammed:
        weights = observable.counts.astype(np.float64)
        mean = float(np.dot(weights, observable.values) / n)
        square = float(np.dot(weights, (observable.values - mean) ** 2))
    else:
        mean = observable.total / n
        square = float(variance_from_sums(observable.total, observable.total_squares, n)) * (n - 1)
    variance = square / (n - 1) if n > 1 else np.nan
    exact = observable.exact_moments()
    mean_exact, variance_exact = exact if exact is not None else (np.nan, np.nan)
    return {"direction": direction, "observable": observable.name, "trajectories": int(n),
            "mean": mean, "std": float(np.sqrt(variance)),
            "stderr": float(np.sqrt(variance / n)) if n > 1 else np.nan,
            "mean_exact": mean_exact, "std_exact": float(np.sqrt(max(variance_exact, 0.0)))
            if np.isfinite(variance_exact) else np.nan, "condition": observable.condition or ""}
