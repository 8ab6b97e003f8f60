"""Benchmark: EXP and BAR from integer histograms (mcthermo) against pymbar on the equivalent
per-trajectory samples, measured in the same run; the estimates must agree to 1e-8.  Also times
the whole verdict table of ``validate`` on counts and on samples.

    python scripts/bench_estimators.py [--trajectories 1000000] [--steps 100]
"""
import argparse
import time
import warnings

import numpy as np

import mcthermo as mt
from mcthermo import theorems
from mcthermo.validation import validate


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymbar import other_estimators

    spec = mt.Staircase(steps=args.steps)
    run = mt.sample(spec, args.trajectories, 1, reverse=True)
    work = run.histogram.query("observable == 'work'")
    forward = work.query("direction == 'forward' and count > 0")
    reverse = work.query("direction == 'reverse' and count > 0")
    wf, cf = forward["value"].to_numpy(), forward["count"].to_numpy()
    wr, cr = reverse["value"].to_numpy(), reverse["count"].to_numpy()
    samples_f, samples_r = np.repeat(wf, cf), np.repeat(wr, cr)
    beta = spec.beta

    rows = []
    ours, t_ours = timed(theorems.exponential_average, wf, cf, beta=beta, bootstrap=0)
    ref, t_ref = timed(other_estimators.exp, beta * samples_f)
    rows.append(("EXP", ours.value, ref["Delta_f"] / beta, t_ours, t_ref))
    ours, t_ours = timed(theorems.bar, wf, cf, wr, cr, beta=beta, bootstrap=0)
    ref, t_ref = timed(other_estimators.bar, beta * samples_f, beta * samples_r, relative_tolerance=1e-14,
                       maximum_iterations=10_000)
    rows.append(("BAR", ours.value, ref["Delta_f"] / beta, t_ours, t_ref))

    table, t_validate = timed(validate, (wf, cf), (wr, cr), beta=beta, free_energy=spec.free_energy_change())
    _, t_samples = timed(validate, samples_f, samples_r, beta=beta, free_energy=spec.free_energy_change())

    print(f"staircase N={args.steps}: {args.trajectories} forward + {args.trajectories} reverse trajectories; "
          f"{wf.size} + {wr.size} distinct work values; exact dF = {spec.free_energy_change():.10f}")
    print(f"{'estimator':<10}{'mcthermo (counts)':>20}{'pymbar (samples)':>20}{'|diff|':>10}"
          f"{'t mcthermo':>12}{'t pymbar':>10}{'speed-up':>10}")
    for name, value, reference, t_ours, t_ref in rows:
        print(f"{name:<10}{value:>20.12f}{reference:>20.12f}{abs(value - reference):>10.1e}"
              f"{t_ours:>11.4f}s{t_ref:>9.3f}s{t_ref / t_ours:>9.0f}x")
    verdicts = ", ".join(f"{c} {v}" for c, v in zip(table["check"], table["verdict"]))
    print(f"validate (every verdict with its diagnostics, BAR bias by bootstrap): {t_validate:.3f}s "
          f"from counts, {t_samples:.3f}s from samples; {verdicts}")


if __name__ == "__main__":
    main()
