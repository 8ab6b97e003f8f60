"""Calibration of the checks: coverage, false-alarm rate and power over many independent runs.

A check is trustworthy when (i) its intervals cover the exact value at their nominal rate,
(ii) a correct sampler trips it at the rate its threshold promises, and (iii) a wrong sampler or a
wrong expected value trips it.  ``calibrate`` reruns every check of a chain model on
``replicates`` independent seeds, optionally with a deliberate perturbation, and returns one row
per (replicate, check).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import checks
from .models.base import STREAMS
from .models.chain import TwoStateChain
from .results import Observable
from .stats import lattice_groups, log_group_sum

#: perturbation name -> what it breaks
PERTURBATIONS = {
    "none": "the correct sampler",
    "occupation_shift": "forward thermal occupations p_j multiplied by (1 + size)",
    "wrong_free_energy": "expected dF shifted by size (energy units)",
    "broken_reverse": "reverse thermal occupations multiplied by (1 - size)",
}


def _scaled(chain: TwoStateChain, factor: float) -> TwoStateChain:
    return TwoStateChain(min(1.0, chain.initial_occupation * factor), chain.keep,
                         np.minimum(1.0, chain.occupation * factor), chain.work_weights,
                         chain.work_values)


def chain_observables(spec, direction, counts) -> dict[str, Observable]:
    """Every observable of a chain model's direction: its histogram on exact atoms beside the exact
    law (log-space dynamic programming over occupation x work index)."""
    chain = spec.chain(direction)
    log_pmf = chain.log_joint_pmf()
    out = {}
    for name, grid in spec._observable_grids(direction, chain).items():
        values, inverse = lattice_groups(grid)
        out[name] = Observable(name, values, np.bincount(inverse, counts.ravel(), values.size),
                               log_probability_exact=log_group_sum(inverse, log_pmf, values.size))
    return out


def chain_checks(spec, observables: dict[str, dict[str, Observable]], free_energy=None) -> list[dict]:
    """The checks of a chain model (``spec.distribution_checks`` get variance and distribution,
    every observable a mean; Jarzynski, integral FT per direction; BAR and Crooks with both), with
    the forward free-energy change ``free_energy`` (default: the spec's)."""
    free_energy = spec.free_energy_change() if free_energy is None else free_energy
    rows = []
    for direction, by_name in observables.items():
        for name, obs in by_name.items():
            rows.append(checks.mean_check(direction, obs))
            if name in spec.distribution_checks:
                rows += [checks.variance_check(direction, obs), checks.distribution_check(direction, obs)]
        sign = 1.0 if direction == "forward" else -1.0
        rows.append(checks.jarzynski_check(direction, by_name["work"], spec.beta, sign * free_energy))
        if "entropy_production" in by_name:
            sigma = by_name["entropy_production"]
            rows.append(checks.integral_ft_check(direction, sigma, sigma.log_exponential_average(1.0)))
    if len(observables) == 2:
        forward, reverse = observables["forward"]["work"], observables["reverse"]["work"]
        rows.append(checks.bar_check(forward, reverse, spec.beta, free_energy))
        rows += checks.crooks_checks(forward, reverse, spec.beta, free_energy)
    return rows


def calibrate(spec, trajectories: int, replicates: int, perturbation: str = "none",
              size: float = 0.0, seed: int = 0, reverse: bool = True) -> pd.DataFrame:
    """Rerun every check of ``spec`` on ``replicates`` seeds (seed, seed+1, ...): one row per
    (replicate, check) with z, passed and whether the interval covers the expected value."""
    if perturbation not in PERTURBATIONS:
        raise ValueError(f"perturbation must be one of {', '.join(PERTURBATIONS)} (got {perturbation!r})")
    directions = spec.directions(reverse)
    chains = {direction: spec.chain(direction) for direction in directions}
    if perturbation == "occupation_shift":
        chains["forward"] = _scaled(chains["forward"], 1.0 + size)
    if perturbation == "broken_reverse":
        chains["reverse"] = _scaled(chains["reverse"], 1.0 - size)
    free_energy = spec.free_energy_change() + (size if perturbation == "wrong_free_energy" else 0.0)
    rows = []
    for replicate in range(replicates):
        observables = {d: chain_observables(spec, d, chains[d].counts(seed + replicate, STREAMS[d], 0,
                                                                      trajectories, 4))
                       for d in directions}
        table = pd.DataFrame(chain_checks(spec, observables, free_energy))
        rows.append(table.assign(replicate=replicate, seed=seed + replicate))
    table = pd.concat(rows, ignore_index=True)
    table["covered"] = (table["ci_low"] <= table["expected"]) & (table["expected"] <= table["ci_high"])
    table["covered"] = table["covered"].where(table["ci_low"].notna())
    return table.assign(perturbation=perturbation, size=size, trajectories=trajectories)


def summarize(table: pd.DataFrame, alarm_z: float = 2.0) -> pd.DataFrame:
    """Per check: interval coverage (nominal 0.95, with its binomial stderr), the rate of
    |z| > alarm_z against its nominal rate (2 Phi(-alarm_z) for two-sided z-tests, Phi(-alarm_z)
    for goodness-of-fit checks, whose z is a one-sided quantile), and the rate of failed verdicts."""
    def one(group):
        covered = group["covered"].dropna()
        one_sided = len(covered) == 0
        return pd.Series({
            "replicates": len(group),
            "coverage": covered.mean() if len(covered) else np.nan,
            "coverage_stderr": np.sqrt(0.95 * 0.05 / len(covered)) if len(covered) else np.nan,
            "alarm_rate": (group["z"].abs() > alarm_z).mean(),
            "alarm_rate_nominal": norm.sf(alarm_z) * (1 if one_sided else 2),
            "failed_rate": (~group["passed"].astype(bool)).mean(),
        })

    keys = ["perturbation", "size", "check", "direction", "observable"]
    return table.groupby(keys, dropna=False)[["covered", "z", "passed"]].apply(one).reset_index()
