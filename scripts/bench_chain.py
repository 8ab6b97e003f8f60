"""Benchmark: chain-kernel trajectory steps per second against baselines measured in the same run.

For the staircase and the Landau–Zener chain (the seeds' parameters, and long protocols):
(1) a bare Numba loop drawing one xoshiro256** uniform per step with the same per-trajectory
seeding and threads, the floor of any sampler that spends one uniform per step;
(2) a vectorised numpy sampler of the same chain (numpy Generator, one array of uniforms per step
over a batch of trajectories).  A step is one event of the chain (the initial draw included).

Stroke protocols (``mt.Strokes``, issue 14): the staircase written as strokes against
``mt.Staircase`` (target >= 0.9x), and d = 8 protocols against the one-uniform-per-step RNG loop
(target >= 0.5x; a step = one random draw of the alias-table kernel, the initial draw included).

    python scripts/bench_chain.py [--trajectories 10000000] [--threads N] [--repeats 3]
"""
import argparse
import time

import numba
import numpy as np

from mcthermo import LandauZener, Quench, Staircase, Strokes, Thermalize
from mcthermo.systems.bath import Bath
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


def numpy_sampler(chain, trajectories, seed, batch=1_000_000):
    """Histogram of (n_initial, n_final, work index), vectorised over trajectories with numpy."""
    rng = np.random.default_rng(seed)
    tables = chain.tables
    counts = np.zeros((2, 2, chain.lattice_size), dtype=np.int64)
    for start in range(0, trajectories, batch):
        size = min(batch, trajectories - start)
        n = rng.random(size) < tables.gain[0]
        n_initial, work = n.copy(), n * tables.weights[0]
        for e in range(1, tables.events):
            u = rng.random(size)
            n = (u < tables.gain[e]) | (n & ~(1.0 - u < tables.loss[e]))
            work += n * tables.weights[e]
        np.add.at(counts, (n_initial.astype(int), n.astype(int), work), 1)
    return counts


def best_of(repeats, function, *args):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


CASES = {
    "staircase N=10": (Staircase(steps=10), 1.0),
    "staircase N=100 (seed Fig. 2)": (Staircase(steps=100), 1.0),
    "staircase N=1000": (Staircase(steps=1000), 0.1),
    "lz seed (9 levels)": (LandauZener(), 1.0),
    # 199 levels 1.5 apart (inside the sequential-crossing validity), mu in the middle
    "lz 199 levels": (LandauZener(levels=tuple(1.5 * np.arange(1.0, 200.0)), mu=150.0,
                                  level_end=300.5), 0.1),
}


def staircase_strokes(staircase):
    """The staircase written by hand as a stroke protocol (one quench + one thermalisation per step)."""
    strokes = []
    for gap in staircase.gaps()[1:]:
        strokes += [Quench([0.0, gap]), Thermalize("bath")]
    return Strokes(energies=[0.0, staircase.gap_start], baths={"bath": Bath(beta=staircase.beta)},
                   initial="bath", strokes=strokes, energy_unit=abs(staircase.step))


def ladder_staircase(levels, steps):
    """A d-level harmonic ladder whose spacing rises from 1 to 2 in ``steps`` adiabatic steps, each
    followed by a full thermalisation (a multi-level staircase)."""
    n = np.arange(levels)
    strokes = []
    for k in range(1, steps + 1):
        strokes += [Quench(n * (1.0 + k / steps)), Thermalize("bath")]
    return Strokes(energies=n * 1.0, baths={"bath": Bath(beta=0.7)}, initial="bath", strokes=strokes)


def ladder_otto(levels, cycles, seed=1):
    """A d-level ladder Otto engine with random unitary (|U|^2) expansion strokes, two baths."""
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.normal(size=(levels, levels)) + 1j * rng.normal(size=(levels, levels)))[0]
    n = np.arange(levels)
    return Strokes(energies=n * 1.0, baths={"hot": Bath(beta=0.3), "cold": Bath(beta=1.5)},
                   initial="cold", strokes=[Quench(n * 2.0, np.abs(u) ** 2), Thermalize("hot", 0.7),
                                            Quench(n * 1.0), Thermalize("cold")], cycles=cycles)


def rate(repeats, trajectories, steps, function, *args):
    return trajectories * steps / best_of(repeats, function, *args)


def stroke_rows(args):
    """Stroke protocols against their references, in the same run."""
    print(f"\nstroke protocols, {args.threads} thread(s); steps/s")
    print(f"{'case':<40}{'strokes':>11}{'reference':>11}{'ratio':>8}{'target':>8}")
    staircase = Staircase(steps=100)
    for name, spec, reference, target in [
            ("staircase N=100 as Strokes / Staircase", staircase_strokes(staircase), staircase, 0.9),
            ("d=8 ladder staircase N=50 / RNG loop", ladder_staircase(8, 50), None, 0.5),
            ("d=8 ladder Otto, 3 cycles / RNG loop", ladder_otto(8, 3), None, 0.5)]:
        steps = spec.steps_per_trajectory()
        trajectories = args.trajectories // 4
        spec.accumulate("forward", 1, 0, 1000)
        strokes_rate = rate(args.repeats, trajectories, steps, spec.accumulate, "forward", 1, 0, trajectories)
        if reference is None:
            reference_rate = rate(args.repeats, trajectories, steps, rng_loop, 1, trajectories, int(steps))
        else:
            reference.accumulate("forward", 1, 0, 1000)
            reference_rate = rate(args.repeats, trajectories, steps, reference.accumulate, "forward", 1, 0,
                                  trajectories)
        print(f"{name:<40}{strokes_rate:>11.3g}{reference_rate:>11.3g}"
              f"{strokes_rate / reference_rate:>8.2f}{target:>8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=10_000_000,
                        help="per case (times the case's fraction for long protocols)")
    parser.add_argument("--numpy-trajectories", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    rng_loop(1, 1000, 10)  # compile / load cache
    print(f"chain kernel, {args.threads} thread(s); steps/s (a step = one event incl. the initial draw)")
    print(f"{'case':<32}{'chain':>11}{'RNG loop':>11}{'numpy':>11}{'chain/loop':>12}{'chain/numpy':>13}")
    for name, (spec, fraction) in CASES.items():
        trajectories = max(1000, int(args.trajectories * fraction))
        chain = spec.chain("forward")
        steps = chain.tables.events
        spec.accumulate("forward", 1, 0, 1000)
        chain_rate = trajectories * steps / best_of(args.repeats, spec.accumulate, "forward", 1, 0,
                                                    trajectories)
        loop_rate = trajectories * steps / best_of(args.repeats, rng_loop, 1, trajectories, steps)
        numpy_trajectories = max(1000, int(args.numpy_trajectories * fraction))
        numpy_rate = numpy_trajectories * steps / best_of(1, numpy_sampler, chain, numpy_trajectories, 1)
        print(f"{name:<32}{chain_rate:>11.3g}{loop_rate:>11.3g}{numpy_rate:>11.3g}"
              f"{chain_rate / loop_rate:>12.2f}{chain_rate / numpy_rate:>13.1f}")
    stroke_rows(args)


if __name__ == "__main__":
    main()
