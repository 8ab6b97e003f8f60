"""Calibration of the checks: coverage, false-alarm rate, power and inconclusive verdicts.

A check is trustworthy when (i) its intervals cover the exact value at their nominal rate,
(ii) a correct sampler trips it no more often than its threshold promises -- also at small
trajectory counts, (iii) a wrong sampler or a wrong expected value trips it, and (iv) where the
sample cannot see a deviation (an exponential average carried by unsampled rare trajectories) it
says "inconclusive" instead of "passed".  ``calibrate`` reruns every check of a chain model (through
the model's declared ``Results`` and the one table builder) on ``replicates`` independent seeds,
optionally with a deliberate perturbation; ``power_sweep`` shows (iv) on Gaussian work.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from .exact.strokes_dp import StrokeChain
from .model import STREAMS
from .systems.two_state_chain import TwoStateChain
from .results import Observable, Results
from .tables import build
from .validation import validate

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


def shift_free_energy(results: Results, shift: float) -> Results:
    """The declared results judged against a free-energy change off by ``shift`` (a wrong dF)."""
    for direction, declared in results.directions.items():
        if isinstance(declared.jarzynski, tuple):  # a string says why the row does not apply
            beta, free_energy = declared.jarzynski
            declared.jarzynski = (beta, free_energy + (shift if direction == "forward" else -shift))
    if isinstance(results.bar_crooks, tuple):
        beta, free_energy = results.bar_crooks
        results.bar_crooks = (beta, free_energy + shift)
    return results


def checks_of(spec, counts: dict[str, np.ndarray], free_energy_shift: float = 0.0) -> pd.DataFrame:
    """The checks table of a chain model from its (n_initial, n_final, work index) counts per
    direction, judged against its exact answers (dF shifted by ``free_energy_shift``)."""
    results = spec.results({direction: {"counts": c} for direction, c in counts.items()})
    return build(shift_free_energy(results, free_energy_shift))["checks"]


def calibrate(spec, trajectories: int, replicates: int, perturbation: str = "none",
              size: float = 0.0, seed: int = 0, reverse: bool = True) -> pd.DataFrame:
    """Rerun every check of ``spec`` on ``replicates`` seeds (seed, seed+1, ...): one row per
    (replicate, check) with z, verdict and whether the interval covers the expected value."""
    if perturbation not in PERTURBATIONS:
        raise ValueError(f"perturbation must be one of {', '.join(PERTURBATIONS)} (got {perturbation!r})")
    directions = spec.directions(reverse)
    chains = {direction: spec.chain(direction) for direction in directions}
    if perturbation == "occupation_shift":
        chains["forward"] = _scaled(chains["forward"], 1.0 + size)
    if perturbation == "broken_reverse":
        chains["reverse"] = _scaled(chains["reverse"], 1.0 - size)
    shift = size if perturbation == "wrong_free_energy" else 0.0
    rows = []
    for replicate in range(replicates):
        counts = {d: chains[d].counts(seed + replicate, STREAMS[d], 0, trajectories, 4)
                  for d in directions}
        rows.append(checks_of(spec, counts, shift).assign(replicate=replicate, seed=seed + replicate))
    table = pd.concat(rows, ignore_index=True)
    table["covered"] = (table["ci_low"] <= table["expected"]) & (table["expected"] <= table["ci_high"])
    table["covered"] = table["covered"].where(table["ci_low"].notna() & table["verdict"].ne("inconclusive"))
    return table.assign(perturbation=perturbation, size=size, trajectories=trajectories)


def summarize(table: pd.DataFrame, alarm_z: float = 2.0) -> pd.DataFrame:
    """Per check: interval coverage (nominal 0.95, with its binomial stderr), the rate of
    |z| > alarm_z against its nominal rate (2 Phi(-alarm_z) for two-sided z-tests, Phi(-alarm_z)
    for goodness-of-fit checks, whose z is a one-sided quantile; exact small-count tails are
    conservative, so at most nominal), and the rates of failed and inconclusive verdicts."""
    def one(group):
        covered = group["covered"].dropna()
        one_sided = group["check"].iloc[0] in ("distribution", "crooks_linearity")
        judged = group[group["verdict"] != "inconclusive"]
        return pd.Series({
            "replicates": len(group),
            "coverage": covered.mean() if len(covered) else np.nan,
            "coverage_stderr": np.sqrt(0.95 * 0.05 / len(covered)) if len(covered) else np.nan,
            "alarm_rate": (judged["z"].abs() > alarm_z).mean() if len(judged) else np.nan,
            "alarm_rate_nominal": norm.sf(alarm_z) * (1 if one_sided else 2),
            "failed_rate": (group["verdict"] == "failed").mean(),
            "inconclusive_rate": (group["verdict"] == "inconclusive").mean(),
        })

    keys = ["perturbation", "size", "trajectories", "check", "direction", "observable"]
    return table.groupby(keys, dropna=False)[list(table.columns)].apply(one).reset_index()


def run_failure_rate(table: pd.DataFrame) -> float:
    """Fraction of replicates with at least one failed verdict (the run's exit code 1)."""
    return float(table.groupby("replicate")["verdict"].apply(lambda v: (v == "failed").any()).mean())


def power_sweep(beta_sigmas, trajectories: int, replicates: int, shift_kt: float = 1.0,
                seed: int = 0, beta: float = 1.0) -> pd.DataFrame:
    """Jarzynski on Gaussian work obeying Crooks (W ~ N(dF + beta s^2/2, s), dF = 0) at several
    beta sigma_W, judged against dF and against dF + ``shift_kt`` / beta: verdict rates per case.
    Where sampling has no power (large beta sigma_W) the verdict must be inconclusive, not passed."""
    rng = np.random.default_rng(seed)
    rows = []
    for beta_sigma in beta_sigmas:
        sigma = beta_sigma / beta
        for _ in range(replicates):
            work = rng.normal(beta * sigma**2 / 2.0, sigma, trajectories)
            for label, expected in (("right", 0.0), ("wrong", shift_kt / beta)):
                row = validate(work, beta=beta, free_energy=expected).iloc[0]
                rows.append({"beta_sigma": beta_sigma, "free_energy": label, "verdict": row["verdict"]})
    frame = pd.DataFrame(rows)
    rates = pd.crosstab([frame["beta_sigma"], frame["free_energy"]], frame["verdict"], normalize="index")
    return rates.reindex(columns=["passed", "failed", "inconclusive"], fill_value=0.0).reset_index()


def generating_rows(system, accumulator, exact) -> list[dict]:
    """The rows built on exact generating functions (mean, variance, distribution of work, heat
    and sigma from their sums alone; jarzynski; integral_ft) of one ``OpenSystem`` run, with the
    exact answers ``exact`` of ``generating_exact`` computed once for every replicate."""
    from . import checks
    from .exponential import log_block_sum
    from .systems.open_exponential import observable_names

    floats = accumulator["floats"].sum(axis=0)
    sums = log_block_sum(accumulator["exponential"])
    names = observable_names(system)
    n = int(accumulator["count_histogram"][0].sum()) if len(system.channel_names) else 0
    rows = []
    for k, name in enumerate(names):
        if name not in exact["moments"]:
            continue
        b = k - len(system.channel_names)
        used = np.isfinite(system.layout().exponents[k])
        mean, variance = exact["moments"][name]
        obs = Observable(name, n=n, total=float(floats[b, 0]), total_squares=float(floats[b, 1]),
                         mean_exact=mean, variance_exact=variance,
                         exponents=system.layout().exponents[k][used], log_exponential_sums=sums[k][used],
                         log_generating_function=exact["log_g"][name], value_scale=exact["scale"][name])
        rows += [checks.mean_check("forward", obs), checks.variance_check("forward", obs),
                 checks.distribution_check("forward", obs)]
        if name == "work" and exact["jarzynski"] is not None:
            rows.append(checks.jarzynski_check("forward", obs, *exact["jarzynski"]))
        if name == "entropy_production":
            rows.append(checks.integral_ft_check("forward", obs, exact["integral_ft"]))
    return rows


def generating_exact(system) -> dict:
    """The exact answers of ``generating_rows`` (ln G cached per observable, moments, scales,
    Jarzynski's (beta, dF) and ln<e^{-sigma}>)."""
    from .systems import open_exponential

    names = ["work", "entropy_production"] + [f"heat_{b}" for b in system.bath_names]
    results = system.results({"forward": system.accumulate("forward", 0, 0, system.block_size)})
    declared = results.directions["forward"]
    return {"moments": {name: system.exact_moments(name) for name in names},
            "log_g": {name: open_exponential.log_generating_function(system, name) for name in names},
            "scale": {name: open_exponential.value_scale(system, name) for name in names},
            "jarzynski": declared.jarzynski if isinstance(declared.jarzynski, tuple) else None,
            "integral_ft": float(declared.integral_ft)}


def calibrate_generating(system, trajectories: int, replicates: int, seed: int = 0) -> pd.DataFrame:
    """Rerun the generating-function rows of ``system`` (an ``OpenSystem``, correct sampler) on
    ``replicates`` seeds: one row per (replicate, check, observable) with z and verdict."""
    exact = generating_exact(system)
    frames = []
    for replicate in range(replicates):
        accumulator = system.accumulate("forward", seed + replicate, 0, trajectories)
        frame = pd.DataFrame(generating_rows(system, accumulator, exact))
        frames.append(frame.assign(replicate=replicate, seed=seed + replicate))
    table = pd.concat(frames, ignore_index=True)
    return table.assign(perturbation="none", size=0.0, trajectories=trajectories)


def biased_doob(honest, factor: float = 1.02):
    """A wrong tilted sampler for power tests: the Doob transform ``honest`` (``strokes_dp.doob_chain``)
    with the start in level 1 drawn ``factor`` times too often (two-level protocols)."""
    def wrong(chain, s, *terms):
        tilted, log_g = honest(chain, s, *terms)
        p = np.exp(tilted.log_initial)
        p[1] *= factor
        p[0] = 1.0 - p[1]
        return StrokeChain(np.log(p), tilted.log_transition, tilted.increments, tilted.names,
                           tilted.endpoints), log_g
    return wrong
