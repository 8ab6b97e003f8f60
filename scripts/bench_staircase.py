"""Benchmark: chain-kernel trajectory steps per second against baselines measured in the same run.

Baselines: (1) a bare Numba loop drawing one xoshiro256** uniform per step with the same
per-trajectory seeding and threads (the floor any one-draw-per-step sampler pays), (2) a vectorised
numpy sampler (numpy Generator, one array of uniforms per step over a batch of trajectories).

    python scripts/bench_staircase.py [--steps 100] [--trajectories 10000000] [--threads N]
"""
import argparse
import time

import numba
import numpy as np

from mcthermo import Staircase
from mcthermo.kernels.rng import trajectory_state, uniform53


@numba.njit(parallel=True, cache=True)
def rng_loop(seed, trajectories, steps):
    """One uniform per step and nothing else (xor-folded so the draws are not optimised away)."""
    out = np.zeros(trajectories, dtype=np.uint64)
    for t in numba.prange(trajectories):
        s0, s1, s2, s3 = trajectory_state(seed, 0, t)
        acc = np.uint64(0)
        for _ in range(steps):
            k, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
            acc ^= k
        out[t] = acc
    return out


def numpy_sampler(spec, trajectories, seed, batch=1_000_000):
    """Work-index histogram of the staircase, vectorised over trajectories with numpy."""
    rng = np.random.default_rng(seed)
    p = spec.excitation_probabilities()
    counts = np.zeros(spec.steps + 1, dtype=np.int64)
    for start in range(0, trajectories, batch):
        size = min(batch, trajectories - start)
        work_index = np.zeros(size, dtype=np.int64)
        for j in range(spec.steps):
            work_index += rng.random(size) < p[j]
        counts += np.bincount(work_index, minlength=spec.steps + 1)
    return counts


def best_of(repeats, function, *args):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--trajectories", type=int, default=10_000_000)
    parser.add_argument("--numpy-trajectories", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    spec = Staircase(steps=args.steps)
    draws = args.steps + 1  # draws per trajectory: initial + one per step (incl. final thermalisation)
    blocks = 8 * args.threads

    spec.accumulate("forward", 1, 0, 1000)  # compile / load cache
    rng_loop(1, 1000, draws)
    chain_time = best_of(args.repeats, spec.accumulate, "forward", 1, 0, args.trajectories)
    loop_time = best_of(args.repeats, rng_loop, 1, args.trajectories, draws)
    numpy_time = best_of(1, numpy_sampler, spec, args.numpy_trajectories, 1)

    chain_rate = args.trajectories * draws / chain_time
    loop_rate = args.trajectories * draws / loop_time
    numpy_rate = args.numpy_trajectories * args.steps / numpy_time
    print(f"staircase N={args.steps}, {args.threads} thread(s), {blocks} blocks")
    print(f"{'sampler':<34}{'steps/s':>12}{'ratio to chain':>16}")
    print(f"{'chain kernel (mcthermo)':<34}{chain_rate:>12.3g}{1.0:>16.2f}")
    print(f"{'bare RNG loop (1 uniform/step)':<34}{loop_rate:>12.3g}{loop_rate / chain_rate:>16.2f}")
    print(f"{'vectorised numpy':<34}{numpy_rate:>12.3g}{numpy_rate / chain_rate:>16.2f}")
    print(f"chain / RNG loop = {chain_rate / loop_rate:.2f}; chain / numpy = {chain_rate / numpy_rate:.1f}")


if __name__ == "__main__":
    main()
