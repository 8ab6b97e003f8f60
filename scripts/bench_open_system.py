"""Benchmarks of user-defined open systems (``mt.OpenSystem``) against QuTiP ``mcsolve``, all
measured in one run and printed with the machine and its load.

Per core: our CPU seconds per trajectory (process time: all Numba threads together) against
QuTiP's CPU seconds per trajectory (``mcsolve`` with its serial map, one BLAS thread), so the
ratio is the same on a busy or an idle machine and for any thread count; the wall-clock ratio
(ours with every thread, QuTiP serial) is printed beside it.  Each case times ours and QuTiP
alternately ``--repeats`` times (default 3) and compares each side's best time (on a shared
machine noise only adds time); the per-repeat per-core ratios are printed beside it.  Both sample the same
time-independent Lindbladian, the same unravelling (jump operators as given).

1. Random Davies Lindbladians, d = 2, 4, 8, 16 (random H, the Davies channels of one random
   coupling at beta = 1, rate function 0.1 w / (1 + w)): t = 10, 101 output times, one observable
   (H), start in basis state 0, no energy measurement.  Ratio of CPU seconds per trajectory.
2. At equal statistical error, <s_x>, <s_y>, <s_z> at 201 output times from the ground state:
   a driven two-level system (H = (Delta/2) s_z + (Om/2) s_x, thermal emission/absorption
   L = sqrt(g(n+1)) s-, sqrt(g n) s+, t = 40) and zero-temperature resonance fluorescence
   (H = (Om/2) s_x, L = sqrt(g) s-, t = 20).  Cost at equal error = (CPU seconds per trajectory) x
   (per-trajectory variance of <s>, summed over components and averaged over the output times).
3. With --exact: the time of the exact counting statistics of one channel (DFT of the tilted
   generator) and of its exact mean/variance (block-matrix derivatives) by dimension, and the peak
   resident memory of a child process sampling 10^4 .. 10^6 trajectories (flat: histograms and
   per-block sums only).
Usage: python scripts/bench_open_system.py [--trajectories 100000] [--qutip-seconds 3] [--repeats 3]
       [--exact]
"""
import argparse
import os
import platform
import subprocess
import sys
import time

# one BLAS thread: QuTiP's serial map and the exact references use many small matrix products,
# which a threaded BLAS slows down on a busy machine (and the sampler has its own Numba threads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numba  # noqa: E402
import numpy as np  # noqa: E402

import mcthermo as mt  # noqa: E402
from mcthermo.exact import tilted  # noqa: E402

SIGMA = {"x": np.array([[0, 1], [1, 0]], complex), "y": np.array([[0, -1j], [1j, 0]]),
         "z": np.diag([1.0, -1.0]).astype(complex)}
LOWER = np.array([[0, 0], [1, 0]], complex)                # |e> = 0 -> |g> = 1
GROUND = np.diag([0.0, 1.0])


def driven_qubit(times=201, t_end=40.0):
    gamma, occupation, detuning, rabi = 0.2, 0.2, 0.3, 1.0
    h = 0.5 * detuning * SIGMA["z"] + 0.5 * rabi * SIGMA["x"]
    channels = [mt.Channel("emit", np.sqrt(gamma * (1 + occupation)) * LOWER, 1.0, "bath"),
                mt.Channel("absorb", np.sqrt(gamma * occupation) * LOWER.T, -1.0, "bath")]
    return mt.OpenSystem(hamiltonian=h, channels=channels,
                         baths={"bath": mt.Bath(beta=float(np.log(1 + 1 / occupation)))},
                         initial=GROUND, duration=t_end, measure_energy=False,
                         output_times=np.linspace(0, t_end, times), observables=SIGMA)


def resonance_fluorescence(times=201, t_end=20.0):
    gamma, rabi = 0.5, 1.0
    channels = [mt.Channel("emit", np.sqrt(gamma) * LOWER, 1.0, "field")]
    return mt.OpenSystem(hamiltonian=0.5 * rabi * SIGMA["x"], channels=channels,
                         baths={"field": mt.Bath(beta=np.inf)}, initial=GROUND, duration=t_end,
                         measure_energy=False, output_times=np.linspace(0, t_end, times),
                         observables=SIGMA)


def random_davies(d, seed=0, t_end=10.0, times=101):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    h = (a + a.conj().T) / 2
    coupling = rng.normal(size=(d, d))
    channels = mt.davies_channels(h, (coupling + coupling.T) / np.sqrt(d), "bath", 1.0,
                                  lambda w: 0.1 * w / (1 + w))
    start = np.zeros((d, d))
    start[0, 0] = 1.0
    return mt.OpenSystem(hamiltonian=h, channels=channels, baths={"bath": mt.Bath(beta=1.0)},
                         initial=start, duration=t_end, measure_energy=False,
                         output_times=np.linspace(0, t_end, times), observables={"h": h})


def ours(system, trajectories, seed=1):
    """(CPU s, wall s) per trajectory, per-trajectory variance of the observables (summed over
    them, averaged over the output times), mean jumps per trajectory."""
    system.accumulate("forward", seed, 0, system.block_size)       # compile / load the cache
    cpu, wall = time.process_time(), time.perf_counter()
    acc = system.accumulate("forward", seed, 0, trajectories)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sums = acc["moments"].sum(axis=0)                               # (times, observables, 2)
    mean = sums[..., 0] / trajectories
    variance = (sums[..., 1] / trajectories - mean**2).sum(axis=1).mean()
    histogram = acc["count_histogram"]
    jumps = (histogram * np.arange(histogram.shape[1])).sum() / trajectories
    return cpu / trajectories, wall / trajectories, variance, jumps


def qutip_mcsolve(system, seconds, seed=1, trajectories=None):
    """(CPU s, wall s) per trajectory, the per-trajectory expectation values (observables,
    trajectories, times) and the trajectory count of QuTiP mcsolve (serial map) on the same
    Lindbladian and pure start; ``trajectories`` or as many as fit in about ``seconds``."""
    import qutip as qt

    (piece,) = system.pieces
    start = qt.Qobj(np.linalg.eigh(system.initial)[1][:, -1])       # the pure initial state
    arguments = (qt.Qobj(piece.hamiltonian), start, system.output_times)
    options = dict(keep_runs_results=True, progress_bar="", map="serial")
    keywords = dict(c_ops=[qt.Qobj(c.operator) for c in piece.channels],
                    e_ops=[qt.Qobj(a) for a in system.observables.values()], options=options)
    if trajectories is None:
        probe = time.process_time()
        qt.mcsolve(*arguments, ntraj=4, seeds=seed + 1, **keywords)    # warm up, size the run
        trajectories = int(np.clip(seconds / max((time.process_time() - probe) / 4, 1e-6), 20, 2000))
    cpu, wall = time.process_time(), time.perf_counter()
    result = qt.mcsolve(*arguments, ntraj=trajectories, seeds=seed, **keywords)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    runs = np.array(result.runs_expect).real                        # (observables, trajectories, times)
    return cpu / trajectories, wall / trajectories, runs, trajectories


def compare(system, trajectories, qutip_seconds, repeats):
    """Ours and QuTiP timed alternately ``repeats`` times; each side's best (least disturbed) CPU
    and wall time per trajectory, with the per-repeat per-core ratios.  QuTiP's repeats use
    different seeds and pool their trajectories for the variance; ours repeat the same run (the
    same bits, so the same variance).  Returns a dict."""
    times, q_times, q_runs, ratios = [], [], [], []
    q_trajectories = None
    for repeat in range(repeats):
        cpu, wall, variance, jumps = ours(system, trajectories)
        q_cpu, q_wall, runs, q_trajectories = qutip_mcsolve(system, qutip_seconds, seed=1 + repeat,
                                                            trajectories=q_trajectories)
        times.append((cpu, wall))
        q_times.append((q_cpu, q_wall))
        q_runs.append(runs)
        ratios.append(q_cpu / cpu)
    runs = np.concatenate(q_runs, axis=1)
    q_variance = runs.var(axis=1, ddof=1).sum(axis=0).mean()
    cpu, wall = np.min(times, axis=0)
    q_cpu, q_wall = np.min(q_times, axis=0)
    return dict(cpu=cpu, wall=wall, variance=variance, jumps=jumps, q_cpu=q_cpu, q_wall=q_wall,
                q_variance=q_variance, q_trajectories=runs.shape[1], cpu_ratios=np.array(ratios))


def spread(ratios, factor=1.0):
    """The per-repeat ratios as 'low–high' (one repeat: its value)."""
    low, high = factor * ratios.min(), factor * ratios.max()
    return f"{low:,.0f}" if len(ratios) == 1 else f"{low:,.0f}–{high:,.0f}"


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{model}, {os.cpu_count()} logical cores, {numba.get_num_threads()} Numba threads, "
            f"load average {os.getloadavg()[0]:.2f}")


def dimension_table(trajectories, qutip_seconds, repeats):
    print("1. random Davies Lindbladians (t = 10, 101 output times, one observable, basis-state start):")
    print(f"{'d':>4} {'channels':>8} {'jumps':>6} {'ours CPU us':>11} {'ours wall us':>12} "
          f"{'QuTiP CPU ms':>12} {'QuTiP wall ms':>13} {'per core':>9} {'wall':>7} {'each repeat':>13}")
    for d in (2, 4, 8, 16):
        system = random_davies(d)
        r = compare(system, max(1000, trajectories // d), qutip_seconds, repeats)
        print(f"{d:>4} {len(system.channel_names):>8} {r['jumps']:>6.2f} "
              f"{r['cpu'] * 1e6:>11.2f} {r['wall'] * 1e6:>12.2f} {r['q_cpu'] * 1e3:>12.3f} "
              f"{r['q_wall'] * 1e3:>13.3f} {r['q_cpu'] / r['cpu']:>8,.0f}x "
              f"{r['q_wall'] / r['wall']:>6,.0f}x {spread(r['cpu_ratios']):>12}x", flush=True)


def equal_error_table(trajectories, qutip_seconds, repeats):
    print("2. at equal statistical error (<s_x,y,z> at 201 output times, ground start):")
    print(f"{'system':>24} {'jumps':>6} {'ours CPU us':>11} {'variance':>9} {'QuTiP CPU ms':>12} "
          f"{'variance':>9} {'per core':>9} {'wall':>7} {'each repeat':>13}")
    for name, system in (("driven two-level, t=40", driven_qubit()),
                         ("resonance fluorescence", resonance_fluorescence())):
        r = compare(system, trajectories, qutip_seconds, repeats)
        variances = r["q_variance"] / r["variance"]
        per_core = r["q_cpu"] / r["cpu"] * variances
        wall_ratio = r["q_wall"] / r["wall"] * variances
        print(f"{name:>24} {r['jumps']:>6.2f} {r['cpu'] * 1e6:>11.2f} {r['variance']:>9.4f} "
              f"{r['q_cpu'] * 1e3:>12.3f} {r['q_variance']:>9.4f} {per_core:>8,.0f}x "
              f"{wall_ratio:>6,.0f}x {spread(r['cpu_ratios'], variances):>12}x", flush=True)


def exact_table():
    print("3. exact counting statistics by dimension (random Davies, t = 10):")
    print(f"{'d':>4} {'jump bound':>10} {'count law (s)':>14} {'mean+variance (s)':>18}")
    for d in (2, 4, 8, 16):
        system = random_davies(d)
        name = system.channel_names[0]
        start = time.perf_counter()
        law = tilted.count_law(system, name, system.layout().max_count)
        law_seconds = time.perf_counter() - start
        start = time.perf_counter()
        mean, variance = tilted.moments(system, lambda c: float(c.name == name))
        moment_seconds = time.perf_counter() - start
        counts = np.arange(len(law))
        assert abs(law.sum() - 1) < 1e-12 and abs(law @ counts - mean) < 1e-10
        print(f"{d:>4} {system.layout().max_count:>10} {law_seconds:>14.3f} {moment_seconds:>18.3f}")
    print("   peak resident memory of a child process (MiB) by trajectories:")
    for trajectories in (10**4, 10**5, 10**6):
        code = ("import sys, resource; sys.path.insert(0, 'scripts'); import bench_open_system as b; "
                f"b.driven_qubit().accumulate('forward', 1, 0, {trajectories}); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        print(f"   {trajectories:>9,}: {int(out.stdout.split()[-1]) / 1024:8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=100_000)
    parser.add_argument("--qutip-seconds", type=float, default=3.0,
                        help="CPU seconds of QuTiP trajectories per case (at least 20 trajectories)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="ours and QuTiP timed alternately this many times; each side's best "
                             "time is compared (noise on a shared machine only adds time)")
    parser.add_argument("--exact", action="store_true", help="also time the exact references and memory")
    args = parser.parse_args()
    import qutip

    print(f"machine: {machine()}; QuTiP {qutip.__version__}, Numba {numba.__version__}")
    dimension_table(args.trajectories, args.qutip_seconds, args.repeats)
    equal_error_table(args.trajectories, args.qutip_seconds, args.repeats)
    if args.exact:
        exact_table()
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
