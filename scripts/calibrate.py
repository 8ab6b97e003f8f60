"""Calibrate the verdicts: coverage and false alarms of a correct sampler, power against wrong ones,
inconclusive where sampling has no power.

1. Correct sampler (staircase at beta = 1 and at beta = 20, where rare counts broke the normal
   approximation) at 100 and 1000 trajectories per direction: interval coverage, |z| > 2 alarm
   rate against nominal, failed and inconclusive rates, and the fraction of runs with any failed
   verdict (the promise: none beyond ~1.7e-6 per check).
2. Stated alternatives at 1000 trajectories: forward occupations x 1.2, reverse x 0.8, dF off by
   0.1 (staircase beta = 1, 5 steps): fraction of runs that fail (>= 99 % promised).
3. Jarzynski on Gaussian work (dF = 0) at beta sigma_W = 0.5 .. 4, claimed dF right or off by
   2 k_B T: passed / failed / inconclusive rates (no "passed" for a wrong dF where sampling cannot
   see it).
4. The rows built on exact generating functions, without a histogram (mean, variance and
   distribution of work, heat and sigma from their sums; jarzynski; integral_ft), on a three-piece
   random Davies protocol (d = 3, one bath, Gibbs start) sampled by the jump kernel, 2048
   trajectories per seed over --replicates seeds: failed rate (promised: about 1.7e-6 per row,
   i.e. none) and |z| > 2 alarm rate against nominal.

Writes calibration.parquet (every replicate and check), calibration_summary.parquet and
calibration_power.parquet under --out and prints the summaries.

    python scripts/calibrate.py [--replicates 400] [--out data/calibration] [--only generating]

(--only generating: section 4 alone, ~10 s on an idle core at 300 replicates.)
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import mcthermo as mt
from mcthermo.calibration import calibrate, calibrate_generating, power_sweep, run_failure_rate, summarize
from mcthermo.io import write_table

NULL_MODELS = {"staircase beta=1 steps=5": mt.Staircase(steps=5),
               "staircase beta=20 steps=100": mt.Staircase(beta=20.0)}
ALTERNATIVES = [("occupation_shift", 0.2), ("broken_reverse", 0.2), ("wrong_free_energy", 0.1)]
BETA_SIGMAS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]


def random_davies(seed=3, d=3, beta=1.0, durations=(0.7, 3.0, 0.9), rate=1.0) -> mt.OpenSystem:
    """Three pieces of non-commuting random Hamiltonians, Davies channels to one bath, Gibbs start."""
    rng = np.random.default_rng(seed)

    def hermitian():
        a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
        return (a + a.conj().T) / 2

    coupling = hermitian()
    pieces = []
    for duration in durations:
        h = 0.5 * hermitian()
        pieces.append(mt.Piece(h, mt.davies_channels(h, coupling, "bath", beta, lambda w: rate), duration))
    return mt.OpenSystem(pieces=pieces, baths={"bath": mt.Bath(beta=beta)}, initial=mt.Gibbs(beta))


def generating_summary(replicates: int, trajectories: int = 2048, seed: int = 50_000) -> pd.DataFrame:
    """Section 4: per (check, observable) the failed, inconclusive and |z| > 2 rates."""
    table = calibrate_generating(random_davies(), trajectories, replicates, seed=seed)
    table["covered"] = (table["ci_low"] <= table["expected"]) & (table["expected"] <= table["ci_high"])
    table["covered"] = table["covered"].where(table["ci_low"].notna() & table["verdict"].eq("passed"))
    return table, summarize(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=400, help="runs per case (default 400)")
    parser.add_argument("--out", default="data/calibration")
    parser.add_argument("--only", choices=["generating"], help="run one section only")
    args = parser.parse_args()
    out = Path(args.out)
    columns = ["check", "observable", "replicates", "coverage", "alarm_rate", "alarm_rate_nominal",
               "failed_rate", "inconclusive_rate"]
    generating, generating_rates = generating_summary(args.replicates)
    write_table(generating, out / "calibration_generating.parquet", {"script": "calibrate.py"})
    with pd.option_context("display.width", 220, "display.max_rows", 300, "display.max_columns", 20):
        print(f"generating-function rows, random 3-piece Davies protocol, 2048 trajectories x "
              f"{args.replicates} seeds (runs with a failed row: {run_failure_rate(generating):.4f})")
        print(generating_rates[columns].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        print()
    if args.only == "generating":
        print(f"wrote {out}")
        return
    tables, runs = [], []
    for label, spec in NULL_MODELS.items():
        for trajectories in (100, 1000):
            table = calibrate(spec, trajectories, args.replicates, seed=10_000 * trajectories)
            tables.append(table.assign(model=label))
            runs.append({"model": label, "case": "correct sampler", "trajectories": trajectories,
                         "runs": args.replicates, "runs_failed": run_failure_rate(table)})
    spec = NULL_MODELS["staircase beta=1 steps=5"]
    for name, size in ALTERNATIVES:
        table = calibrate(spec, 1000, args.replicates, name, size, seed=777)
        tables.append(table.assign(model="staircase beta=1 steps=5"))
        runs.append({"model": "staircase beta=1 steps=5", "case": f"{name} {size}", "trajectories": 1000,
                     "runs": args.replicates, "runs_failed": run_failure_rate(table)})
    table = pd.concat(tables, ignore_index=True)
    summary = table.groupby("model", group_keys=True).apply(summarize, include_groups=False).reset_index(0)
    runs = pd.DataFrame(runs)
    power = pd.concat([power_sweep(BETA_SIGMAS, n, args.replicates, shift_kt=2.0).assign(trajectories=n)
                       for n in (100, 1000)], ignore_index=True)
    info = {"script": "calibrate.py", "replicates": args.replicates}
    write_table(table, out / "calibration.parquet", info)
    write_table(summary, out / "calibration_summary.parquet", info)
    write_table(power, out / "calibration_power.parquet", info)
    with pd.option_context("display.width", 220, "display.max_rows", 300, "display.max_columns", 20):
        columns = ["model", "perturbation", "trajectories", "check", "direction", "observable",
                   "coverage", "alarm_rate", "alarm_rate_nominal", "failed_rate", "inconclusive_rate"]
        print(summary[columns].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        print()
        print(runs.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        print()
        print(power.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
