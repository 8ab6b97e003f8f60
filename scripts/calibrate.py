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

Writes calibration.parquet (every replicate and check), calibration_summary.parquet and
calibration_power.parquet under --out and prints the summaries.

    python scripts/calibrate.py [--replicates 400] [--out data/calibration]
"""
import argparse
from pathlib import Path

import pandas as pd

import mcthermo as mt
from mcthermo.calibration import calibrate, power_sweep, run_failure_rate, summarize
from mcthermo.io import write_table

NULL_MODELS = {"staircase beta=1 steps=5": mt.Staircase(steps=5),
               "staircase beta=20 steps=100": mt.Staircase(beta=20.0)}
ALTERNATIVES = [("occupation_shift", 0.2), ("broken_reverse", 0.2), ("wrong_free_energy", 0.1)]
BETA_SIGMAS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=400, help="runs per case (default 400)")
    parser.add_argument("--out", default="data/calibration")
    args = parser.parse_args()
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
    out = Path(args.out)
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
