"""Benchmark: the tilted (Doob) sampler against the plain sampler of the same protocol, per
trajectory, measured in the same run (issue 24: tilted cost <= 2 x plain).

The tilted ensembles run the same kernels on other tables (``mcthermo.tilting``): the two-state lane
kernel for the staircase, the alias-table kernel for d-level stroke protocols.  Timed: the counts of
``--trajectories`` trajectories (the histogram accumulation of one chunk), best of ``--repeats``,
kernel caches warm (CPU time of the process with one thread, else wall time); the one-off
construction of the Doob transform is timed separately.

Jump systems (``mcthermo.systems.open_tilting``): the plain system and every proposal are sampled
by the jump kernel and every trajectory is replayed under all E ensembles (both cases here are
classical: one walk along the record for all E) in the same pass that tallies the ensemble's own
tables; timed: one direction's accumulators of ``--jump-trajectories`` trajectories per ensemble
(the plain run samples each trajectory once), plain and tilted in turn, cost per trajectory
against the plain run's.

    python scripts/bench_tilted.py [--trajectories 1000000] [--jump-trajectories 20000] [--repeats 3]
                                   [--threads N] [--only chains|jumps]

With ``--threads 1`` run it under OPENBLAS_NUM_THREADS=1: BLAS threads left spinning by the
set-up's linear algebra would otherwise count in the process's CPU time.
"""
import argparse
import os
import time

import numba
import numpy as np

import mcthermo as mt
from mcthermo.model import STREAMS
from mcthermo.tilting import tilted_spec


#: the clock of ``best``: CPU time of this process with one thread (other jobs on the machine then
#: distort a timing less), else wall time (set by ``main``)
clock = time.perf_counter


def best(function, repeats):
    times = []
    for _ in range(repeats):
        started = clock()
        function()
        times.append(clock() - started)
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


def _jump_cases():
    """(label, system, tilt) of the jump-system benchmark."""
    h = np.diag([0.5, -0.5]).astype(complex)
    a = np.array([[0, 1], [1, 0]], complex)
    two_bath = mt.OpenSystem(hamiltonian=h, channels=mt.davies_channels(h, a, "hot", 0.5, lambda w: 0.2)
                             + mt.davies_channels(h, a, "cold", 2.0, lambda w: 0.2),
                             baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2.0)},
                             initial=mt.gibbs_state(h, 1.0), duration=50.0)
    pieces = []
    for gap in (6.0, 0.05) * 4 + (5.0,):
        h = np.diag([gap / 2, -gap / 2]).astype(complex)
        pieces.append(mt.Piece(h, mt.davies_channels(h, a, "bath", 2.0, lambda w: 1.0), 1.0))
    cycles = mt.OpenSystem(pieces=pieces, baths={"bath": mt.Bath(beta=2.0)}, initial=mt.Gibbs(2.0))
    return [("two-bath qubit t = 50, heat_hot s = -2.47", two_bath, {"heat_hot": -2.4747727}),
            ("qubit, 4 cycles of 9 pieces at beta = 2, work s = 0.5, 1", cycles, {"work": [0.5, 1.0]})]


def bench_jumps(n, repeats):
    for label, system, tilt in _jump_cases():
        spec = tilted_spec(system, tilt, quiet=True)
        spec.prepare("forward")
        ensembles = len(spec.systems_of("forward"))
        spec.accumulate("forward", 0, 0, 200)   # compiles
        system.accumulate("forward", 0, 0, 200)
        # plain and tilted timed in turn (a slow spell of the machine hits both), best of each
        timings = [(best(lambda: system.accumulate("forward", 1, 0, n), 1),
                    best(lambda: spec.accumulate("forward", 1, 0, n), 1)) for _ in range(repeats)]
        plain, tilted = np.min(timings, axis=0)
        print(f"{label} ({ensembles} ensembles): plain "
              f"{n / plain:.3g} traj/s, tilted {ensembles * n / tilted:.3g} traj/s, tilted / plain cost "
              f"per trajectory {tilted / (ensembles * plain):.2f} x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=1_000_000)
    parser.add_argument("--jump-trajectories", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("chains", "jumps"), default=None)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    global clock
    clock = time.process_time if args.threads == 1 else time.perf_counter
    n = args.trajectories
    print(f"{n:,} trajectories, {args.threads} thread(s), best of {args.repeats} "
          f"({'CPU' if args.threads == 1 else 'wall'} time), load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.only != "chains":
        bench_jumps(args.jump_trajectories, args.repeats)
    if args.only == "jumps":
        return
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
