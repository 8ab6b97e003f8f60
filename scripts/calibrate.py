"""Calibrate the checks: coverage and false-alarm rate on a correct sampler, power on broken ones.

Reruns every check of a staircase (or any chain model given on the command line) on many seeds at
small sample sizes, for the correct sampler and for deliberate perturbations, and writes
calibration.parquet (one row per replicate and check) and calibration_summary.parquet.

    python scripts/calibrate.py [--steps 5] [--trajectories 2000] [--replicates 1000] [--out data/calibration]
"""
import argparse
from pathlib import Path

import pandas as pd

import mcthermo as mt
from mcthermo.calibration import calibrate, summarize
from mcthermo.io import write_table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--out", default="data/calibration")
    args = parser.parse_args()
    spec = mt.Staircase(steps=args.steps)
    runs = [("none", 0.0), ("occupation_shift", 0.05), ("wrong_free_energy", 0.02),
            ("broken_reverse", 0.05)]
    table = pd.concat([calibrate(spec, args.trajectories, args.replicates, name, size, seed=1000 * i)
                       for i, (name, size) in enumerate(runs)], ignore_index=True)
    summary = summarize(table)
    info = {"model": spec.name, "parameters": spec.parameters(), "script": "calibrate.py",
            "trajectories": args.trajectories, "replicates": args.replicates}
    out = Path(args.out)
    write_table(table, out / "calibration.parquet", info)
    write_table(summary, out / "calibration_summary.parquet", info)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
