"""Benchmarks of user-defined open systems (``mt.OpenSystem``), all measured in one run.

1. A driven two-level system (H = (Delta/2) s_z + (Om/2) s_x, thermal emission/absorption
   L = sqrt(g(n+1)) s-, sqrt(g n) s+, ground start, t in [0, 40], 201 output times, <s_x,y,z>):
   trajectories per second of the exact-waiting-time kernel against QuTiP ``mcsolve`` (the same
   time-independent Lindbladian, serial map) at equal statistical error.  Cost at equal error =
   (seconds per trajectory) x (per-trajectory variance of <s>, summed over components, averaged
   over the output times); the speed-up is the ratio of the two costs.
2. A table over d = 2, 4, 8, 16 (random H, Davies channels of one bath): sampler trajectories/s
   (201 output times, one observable) and the time of the exact counting statistics of one channel
   (DFT of the tilted generator) and of its exact mean/variance (block-matrix derivatives).
3. Peak resident memory of a child process sampling 10^4 .. 10^6 trajectories (flat: histograms
   and per-block sums only).
Usage: python scripts/bench_open_system.py [--trajectories 200000] [--qutip-trajectories 200]
"""
import argparse
import os
import subprocess
import sys
import time

# one BLAS thread: the exact references use many small matrix products, which a threaded BLAS
# slows down by 10-100x on a busy machine (and the sampler has its own Numba threads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

import mcthermo as mt  # noqa: E402
from mcthermo.exact import tilted  # noqa: E402

SIGMA = {"x": np.array([[0, 1], [1, 0]], complex), "y": np.array([[0, -1j], [1j, 0]]),
         "z": np.diag([1.0, -1.0]).astype(complex)}
LOWER = np.array([[0, 0], [1, 0]], complex)                # |e> = 0 -> |g> = 1


def driven_qubit(times=201, t_end=40.0):
    gamma, occupation, detuning, rabi = 0.2, 0.2, 0.3, 1.0
    h = 0.5 * detuning * SIGMA["z"] + 0.5 * rabi * SIGMA["x"]
    channels = [mt.Channel("emit", np.sqrt(gamma * (1 + occupation)) * LOWER, 1.0, "bath"),
                mt.Channel("absorb", np.sqrt(gamma * occupation) * LOWER.T, -1.0, "bath")]
    return mt.OpenSystem(hamiltonian=h, channels=channels,
                         baths={"bath": mt.Bath(beta=float(np.log(1 + 1 / occupation)))},
                         initial=np.diag([0.0, 1.0]), duration=t_end, measure_energy=False,
                         output_times=np.linspace(0, t_end, times), observables=SIGMA)


def ours(system, trajectories, seed=1):
    system.accumulate("forward", seed, 0, system.block_size)       # compile / load the cache
    start = time.perf_counter()
    acc = system.accumulate("forward", seed, 0, trajectories)
    seconds = time.perf_counter() - start
    sums = acc["moments"].sum(axis=0)                               # (times, observables, 2)
    mean = sums[..., 0] / trajectories
    variance = (sums[..., 1] / trajectories - mean**2).sum(axis=1).mean()
    return trajectories / seconds, variance


def qutip_mcsolve(system, trajectories, seed=1):
    import qutip as qt

    (piece,) = system.pieces
    options = dict(keep_runs_results=True, progress_bar="", map="serial")
    start = time.perf_counter()
    result = qt.mcsolve(qt.Qobj(piece.hamiltonian), qt.basis(2, 1), system.output_times,
                        c_ops=[qt.Qobj(c.operator) for c in piece.channels],
                        e_ops=[qt.Qobj(a) for a in system.observables.values()],
                        ntraj=trajectories, seeds=seed, options=options)
    seconds = time.perf_counter() - start
    runs = np.array(result.runs_expect).real                        # (3, trajectories, times)
    return trajectories / seconds, runs.var(axis=1, ddof=1).sum(axis=0).mean()


def random_system(d, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    h = (a + a.conj().T) / 2
    coupling = rng.normal(size=(d, d))
    channels = mt.davies_channels(h, (coupling + coupling.T) / np.sqrt(d), "bath", 1.0,
                                  lambda w: 0.1 * w / (1 + w))
    return mt.OpenSystem(hamiltonian=h, channels=channels, baths={"bath": mt.Bath(beta=1.0)},
                         initial=mt.gibbs_state(h, 0.5), duration=5.0, measure_energy=False,
                         output_times=np.linspace(0, 5.0, 201),
                         observables={"h": h})


def dimension_table(trajectories):
    print(f"{'d':>3} {'channels':>8} {'traj/s':>10} {'jumps/traj':>10} {'count law (s)':>14} "
          f"{'mean+variance (s)':>18}")
    for d in (2, 4, 8, 16):
        system = random_system(d)
        rate, _ = ours(system, trajectories)
        name = system.channel_names[0]
        start = time.perf_counter()
        law = tilted.count_law(system, name, system.layout().max_count)
        law_seconds = time.perf_counter() - start
        start = time.perf_counter()
        mean, variance = tilted.moments(system, lambda c: float(c.name == name))
        moment_seconds = time.perf_counter() - start
        counts = np.arange(len(law))
        assert abs(law.sum() - 1) < 1e-12 and abs(law @ counts - mean) < 1e-10
        jumps = system.layout().max_count
        print(f"{d:>3} {len(system.channel_names):>8} {rate:>10,.0f} {'<= ' + str(jumps):>10} "
              f"{law_seconds:>14.3f} {moment_seconds:>18.3f}")


def peak_memory_child(trajectories):
    code = ("import sys, resource; sys.path.insert(0, 'scripts'); import bench_open_system as b; "
            f"b.driven_qubit().accumulate('forward', 1, 0, {trajectories}); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=200_000)
    parser.add_argument("--qutip-trajectories", type=int, default=200)
    args = parser.parse_args()
    system = driven_qubit()
    rate, variance = ours(system, args.trajectories)
    print(f"1. driven two-level system, 201 output times:\n   mcthermo OpenSystem kernel: "
          f"{rate:,.0f} trajectories/s, per-trajectory variance of <s> {variance:.4f}")
    try:
        import qutip  # noqa: F401
        q_rate, q_variance = qutip_mcsolve(system, args.qutip_trajectories)
        speedup = (q_variance / q_rate) / (variance / rate)
        print(f"   QuTiP mcsolve: {q_rate:,.1f} trajectories/s, per-trajectory variance "
              f"{q_variance:.4f}; speed-up at equal error: {speedup:,.0f}x")
    except ImportError:
        print("   QuTiP not installed: no comparison")
    print("2. sampler and exact counting statistics by dimension (201 output times, t = 5):")
    dimension_table(max(4096, args.trajectories // 10))
    print("3. peak resident memory of a child process (MiB) by trajectories:")
    for trajectories in (10**4, 10**5, 10**6):
        print(f"   {trajectories:>9,}: {peak_memory_child(trajectories):8.1f}")


if __name__ == "__main__":
    main()
