"""Benchmark: how the chain kernel scales with trajectories, steps and threads (1 -> 2).

Prints a Markdown table of trajectory steps per second (staircase and Landau–Zener chains,
``spec.accumulate``, kernel cache warm), all measured in the same run.

    python scripts/bench_scaling.py
"""
import time

import numba

import mcthermo as mt


def rate(spec, trajectories, repeats=3):
    spec.accumulate("forward", 1, 0, 1000)
    best = min(_timed(spec, trajectories) for _ in range(repeats))
    return trajectories * spec.steps_per_trajectory() / best


def _timed(spec, trajectories):
    start = time.perf_counter()
    spec.accumulate("forward", 1, 0, trajectories)
    return time.perf_counter() - start


def main():
    cases = [("staircase", mt.Staircase(steps=n), t) for n, t in
             [(10, 10**5), (10, 10**6), (10, 10**7), (100, 10**6), (100, 10**7), (1000, 10**6)]]
    cases.append(("lz (seed)", mt.LandauZener(), 10**7))
    threads = [1, numba.config.NUMBA_NUM_THREADS] if numba.config.NUMBA_NUM_THREADS > 1 else [1]
    print("| model | events/trajectory | trajectories | " + " | ".join(f"{t} thread(s), steps/s" for t in threads)
          + " | speed-up |")
    print("|---|---|---|" + "---|" * len(threads) + "---|")
    for name, spec, trajectories in cases:
        rates = []
        for t in threads:
            numba.set_num_threads(t)
            rates.append(rate(spec, trajectories))
        print(f"| {name} | {spec.steps_per_trajectory():.0f} | {trajectories:.0e} | "
              + " | ".join(f"{r:.3g}" for r in rates) + f" | {rates[-1] / rates[0]:.2f} |")


if __name__ == "__main__":
    main()
