"""Trajectories per CPU second of the driven-qubit sampler (the generic jump engine on its
Floquet-frame OpenSystem) against QuTiP ``mcsolve`` on the same Lindbladian (lab frame, H(t) and
L_k(t) = sqrt(g_k) U(t) s~_k U(t)^dag, README, Driven qubit), at equal statistical error on the
Bloch vector.

Cost at equal error = (CPU seconds per trajectory, all threads: per core) x (per-trajectory
variance of the Bloch vector, summed over components and averaged over the output times); the
printed speed-up is the ratio of the two costs measured in this run.  Usage:
    python scripts/bench_qubit.py [--trajectories 400000] [--qutip-trajectories 200]
"""
import argparse
import time

import numba
import numpy as np

from mcthermo.models.qubit import DrivenQubit
from mcthermo.models.qubit_results import bloch_moments


def ours(spec, trajectories, seed=1):
    """(trajectories per CPU second of this process, all threads; per wall second; per-trajectory
    variance of the lab Bloch vector summed over components, averaged over the output times)."""
    spec.accumulate("forward", seed, 0, spec.block_size)          # compile / load the cache
    start, cpu = time.perf_counter(), time.process_time()
    acc = spec.accumulate("forward", seed, 0, trajectories)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    _, variance, _ = bloch_moments(acc)
    return trajectories / cpu, trajectories / seconds, variance.sum(axis=1).mean()


def _mcsolve(H, collapse, spec, trajectories, seed):
    import qutip as qt

    options = dict(keep_runs_results=True, progress_bar="", map="serial")
    cpu = time.process_time()
    result = qt.mcsolve(H, qt.basis(2, 1), spec.output_times(), c_ops=collapse,  # ground state |g>
                        e_ops=[qt.sigmax(), qt.sigmay(), qt.sigmaz()], ntraj=trajectories,
                        seeds=seed, options=options)
    cpu = time.process_time() - cpu
    runs = np.array(result.runs_expect).real                      # (3, trajectories, times)
    # the summed variance of the three components is invariant under the frame rotation about z
    return trajectories / cpu, runs.var(axis=1, ddof=1).sum(axis=0).mean()


_OPERATORS = {"-": np.array([[0, 0], [1, 0]]), "+": np.array([[0, 1], [0, 0]]), "z": np.diag([1, -1])}


def qutip_lab_frame(spec, trajectories, seed=1):
    """Lab frame (README, Driven qubit): H(t) and L_k(t) = sqrt(g_k) U(t) s~_k U(t)^dag, with the time dependence
    as sampled coefficient arrays (QuTiP's compiled cubic splines; Python callables are ~10x slower)."""
    import qutip as qt

    wl, W, V = spec.laser_frequency, spec.quasi_frequency, spec.floquet_basis()
    grid = np.linspace(0.0, spec.t_end, 16001)

    def phase(frequency):
        return qt.coefficient(np.exp(1j * frequency * grid), tlist=grid)

    H = qt.QobjEvo([0.5 * spec.atom_frequency * qt.sigmaz(), [0.5 * spec.rabi * qt.sigmap(), phase(-wl)],
                    [0.5 * spec.rabi * qt.sigmam(), phase(wl)]])
    collapse = []
    for op, nu, g in zip("-+z", (W, -W, 0.0), spec.floquet_rates()):
        A = np.sqrt(g) * V @ _OPERATORS[op] @ V.T
        collapse.append(qt.QobjEvo([[qt.Qobj(np.diag(np.diag(A)).astype(complex)), phase(nu)],
                                    [A[0, 1] * qt.sigmap(), phase(nu - wl)],
                                    [A[1, 0] * qt.sigmam(), phase(nu + wl)]]))
    return _mcsolve(H, collapse, spec, trajectories, seed)


def qutip_rotating_frame(spec, trajectories, seed=1):
    """Rotating frame: H_R = (Delta/2) s_z + (Om/2) s_x and the time-independent Floquet jump
    operators sqrt(g_k) s~_k (their phases e^{i nu t} drop out of the Lindbladian): QuTiP's fastest
    form of the same master equation."""
    import qutip as qt

    V = spec.floquet_basis()
    detuning = spec.atom_frequency - spec.laser_frequency
    H = qt.Qobj(0.5 * detuning * np.diag([1.0, -1.0]) + 0.5 * spec.rabi * np.array([[0.0, 1.0], [1.0, 0.0]]))
    collapse = [qt.Qobj(np.sqrt(g) * V @ _OPERATORS[op] @ V.T) for op, g in zip("-+z", spec.floquet_rates())]
    return _mcsolve(H, collapse, spec, trajectories, seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=400_000)
    parser.add_argument("--qutip-trajectories", type=int, default=200)
    args = parser.parse_args()
    spec = DrivenQubit()                                            # ground start, t in [0, 40], 201 times
    rate, wall, variance = ours(spec, args.trajectories)
    threads = numba.get_num_threads()
    print(f"mcthermo jump engine: {rate:,.0f} trajectories per CPU second ({wall:,.0f} per wall "
          f"second, {threads} thread{'s' if threads > 1 else ''}), per-trajectory Bloch variance "
          f"{variance:.4f}")
    try:
        import qutip  # noqa: F401
    except ImportError:
        print("QuTiP not installed: no comparison")
        return
    for label, solver in (("lab frame", qutip_lab_frame), ("rotating frame", qutip_rotating_frame)):
        q_rate, q_variance = solver(spec, args.qutip_trajectories)
        speedup = (q_variance / q_rate) / (variance / rate)
        print(f"QuTiP mcsolve, {label:<15} {q_rate:8,.1f} trajectories per CPU second, per-trajectory Bloch variance "
              f"{q_variance:.4f}; per-core speed-up at equal Bloch-vector error: {speedup:,.0f}x")


if __name__ == "__main__":
    main()
