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
from .stats import lattice_groups

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


def work_observable(chain: TwoStateChain, counts) -> Observable:
    """The work histogram of a chain direction beside its exact law (dynamic programming)."""
    values, inverse = lattice_groups(chain.work_values)
    pmf = chain.joint_pmf().sum(axis=(0, 1))
    with np.errstate(divide="ignore"):
        log_p = np.log(np.bincount(inverse, pmf, values.size))
    return Observable("work", values, np.bincount(inverse, counts.sum(axis=(0, 1)), values.size),
                      log_probability_exact=log_p)


def work_checks(work: dict[str, Observable], beta, free_energy) -> list[dict]:
    """Every check of the work of a chain model: mean, variance and distribution and Jarzynski per
    direction; BAR and Crooks with both directions (``free_energy`` = exact forward dF)."""
    rows = []
    for direction, obs in work.items():
        rows += [checks.mean_check(direction, obs), checks.variance_check(direction, obs),
                 checks.distribution_check(direction, obs)]
        sign = 1.0 if direction == "forward" else -1.0
        rows.append(checks.jarzynski_check(direction, obs, beta, sign * free_energy))
    if len(work) == 2:
        rows.append(checks.bar_check(work["forward"], work["reverse"], beta, free_energy))
        rows += checks.crooks_checks(work["forward"], work["reverse"], beta, free_energy)
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
    exact = {d: spec.chain(d) for d in directions}
    rows = []
    for replicate in range(replicates):
        work = {d: work_observable(exact[d], chains[d].counts(seed + replicate, STREAMS[d], 0,
                                                              trajectories, 4))
                for d in directions}
        table = pd.DataFrame(work_checks(work, spec.beta, free_energy))
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
