"""Benchmark: the tilted (Doob) sampler against the plain sampler of the same protocol, per
trajectory, measured in the same run (issue 24: tilted cost <= 2 x plain).

The tilted ensembles run the same kernels on other tables (``mcthermo.tilting``): the two-state lane
kernel for the staircase, the alias-table kernel for d-level stroke protocols.  Timed: the counts of
``--trajectories`` trajectories (the histogram accumulation of one chunk), best of ``--repeats``,
kernel caches warm; the one-off construction of the Doob transform is timed separately.

    python scripts/bench_tilted.py [--trajectories 1000000] [--repeats 3] [--threads N]
"""
import argparse
import time

import numba

import mcthermo as mt
from mcthermo.model import STREAMS


def best(function, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


CASES = {
    "staircase N = 100, work s = -300": (mt.Staircase(), "work", -300.0),
    "one-step quench 20 -> 0.5, work s = 0.967": (
        mt.Staircase(beta=1.0, gap_start=20.0, gap_end=0.5, steps=1), "work", 0.967),
    "d = 8 ladder Otto, 3 cycles, entropy_production s = 0.5": (
        mt.examples.ladder_otto(levels=8, cycles=3), "entropy_production", 0.5),
    "two-level Otto (two baths), 40 cycles, entropy_production s = 0.5": (
        mt.examples.two_level_otto(cycles=40), "entropy_production", 0.5),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    n = args.trajectories
    print(f"{n:,} trajectories, {args.threads} thread(s), best of {args.repeats}")
    for label, (spec, observable, s) in CASES.items():
        started = time.perf_counter()
        spec.tilted_counts("forward", observable, s, 0, 2, 0, 1000)  # builds the Doob transform, compiles
        build = time.perf_counter() - started
        spec.accumulate("forward", 0, 0, 1000)
        plain = best(lambda: spec.accumulate("forward", 1, 0, n), args.repeats)
        tilted = best(lambda: spec.tilted_counts("forward", observable, s, 1, STREAMS["forward"] + 2, 0, n),
                      args.repeats)
        engine = spec.engine("forward") if hasattr(spec, "engine") else spec.stroke_engine("forward")
        kernel = "alias tables" if engine.two_state is None else "two-state lanes"
        print(f"{label} ({kernel}): plain {n / plain:.3g} traj/s, tilted {n / tilted:.3g} traj/s, "
              f"tilted / plain cost {tilted / plain:.2f} x (Doob transform built once: {build:.2f} s)")


if __name__ == "__main__":
    main()
