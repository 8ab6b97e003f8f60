"""Worked example: quantum Otto engines as stroke protocols (issue 14), with exact references.

A two-level Otto engine (gap w_c = 1 -> w_h = 2 -> w_c; hot bath beta_h = 0.5, cold beta_c = 2)
and a truncated harmonic ladder (d levels n w, beta_h = 0.2) whose compression stroke w: 1 -> 2 is
a sudden quench that mostly keeps the level (transitions 0.95 I + 0.05 |U|^2 of a random unitary:
a little quantum friction), the expansion back being adiabatic.  Prints the
mean work, heats and efficiency against the exact values, the checks, and the efficiency
distribution (sampled vs exact).  Units hbar = k_B = 1; heat is energy into the working medium.

    python scripts/otto.py [--trajectories 1000000] [--cycles 3] [--levels 6] [--out DIR]
"""
import argparse

import numpy as np

import mcthermo as mt


def two_level_otto(cycles, cold_gap=1.0, hot_gap=2.0):
    return mt.Strokes(energies=[0.0, cold_gap], baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2.0)},
                      initial="cold", strokes=[mt.Quench([0.0, hot_gap]), mt.Thermalize("hot"),
                                               mt.Quench([0.0, cold_gap]), mt.Thermalize("cold")],
                      cycles=cycles)


def ladder_otto(levels, cycles, seed=1):
    """Ladder n w, w: 1 -> 2 by a sudden quench with |U|^2 transitions, back adiabatically."""
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.normal(size=(levels, levels)) + 1j * rng.normal(size=(levels, levels)))[0]
    # mostly adiabatic: mix the identity with a random unitary's |U|^2 (still doubly stochastic)
    transitions = 0.95 * np.eye(levels) + 0.05 * np.abs(u) ** 2
    n = np.arange(levels, dtype=float)
    return mt.Strokes(energies=n, baths={"hot": mt.Bath(beta=0.2), "cold": mt.Bath(beta=2.0)},
                      initial="cold", strokes=[mt.Quench(2.0 * n, transitions), mt.Thermalize("hot"),
                                               mt.Quench(n), mt.Thermalize("cold")], cycles=cycles)


def report(name, run):
    summary = run.summary.set_index(["direction", "observable"]).loc["forward"]
    print(f"\n== {name}: {run.summary['trajectories'].max()} trajectories")
    print(summary[["mean", "stderr", "mean_exact"]].to_string())
    checks = run.checks
    print(f"checks: {(checks['verdict'] == 'passed').sum()} passed of {len(checks)}; "
          f"largest |z| {checks['z'].abs().max():.2f}")
    eta = run.histogram.query("direction == 'forward' and observable == 'efficiency'")
    top = eta.sort_values("probability_exact", ascending=False).head(5)
    print("most likely efficiencies -W/Q_hot (sampled vs exact, among trajectories with Q_hot != 0):")
    print(top[["value", "probability", "probability_exact"]].rename(columns={"value": "efficiency"})
          .to_string(index=False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--levels", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="folder for the two runs (optional)")
    args = parser.parse_args()
    for name, spec in [("two-level Otto", two_level_otto(args.cycles)),
                       (f"{args.levels}-level ladder Otto", ladder_otto(args.levels, args.cycles))]:
        out = None if args.out is None else f"{args.out}/{name.split()[0]}"
        run = mt.sample(spec, trajectories=args.trajectories, seed=args.seed, out=out)
        report(name, run)


if __name__ == "__main__":
    main()
