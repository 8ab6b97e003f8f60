"""Trajectories per second of the driven-qubit jump sampler against QuTiP ``mcsolve`` on the same
Lindbladian (lab frame, H(t) and L_k(t) = sqrt(g_k) U(t) s~_k U(t)^dag, spec C3), at equal
statistical error on the Bloch vector.

Cost at equal error = (seconds per trajectory) x (per-trajectory variance of the Bloch vector,
summed over components and averaged over the output times); the printed speed-up is the ratio of
the two costs measured in this run.  Usage:
    python scripts/bench_qubit.py [--trajectories 400000] [--qutip-trajectories 200]
"""
import argparse
import time

import numpy as np

from mcthermo.models.qubit import DrivenQubit
from mcthermo.models.qubit_tables import floquet_moments


def ours(spec, trajectories, seed=1):
    spec.accumulate("forward", seed, 0, spec.block_size)          # compile / load the cache
    start = time.perf_counter()
    acc = spec.accumulate("forward", seed, 0, trajectories)
    seconds = time.perf_counter() - start
    _, cov, _ = floquet_moments(acc)
    amap = spec.bloch_map(spec.output_times())
    variance = np.einsum("nij,njk,nik->n", amap, cov, amap).mean()
    return trajectories / seconds, variance


def qutip_mcsolve(spec, trajectories, seed=1):
    import qutip as qt

    wl, W, V = spec.laser_frequency, spec.quasi_frequency, spec.floquet_basis()
    ops = {"-": np.array([[0, 0], [1, 0]]), "+": np.array([[0, 1], [0, 0]]), "z": np.diag([1, -1])}
    H = qt.QobjEvo([0.5 * spec.atom_frequency * qt.sigmaz(),
                    [0.5 * spec.rabi * qt.sigmap(), lambda t: np.exp(-1j * wl * t)],
                    [0.5 * spec.rabi * qt.sigmam(), lambda t: np.exp(1j * wl * t)]])
    collapse = []
    for op, nu, g in zip("-+z", (W, -W, 0.0), spec.floquet_rates()):
        A = np.sqrt(g) * V @ ops[op] @ V.T
        collapse.append(qt.QobjEvo([
            [qt.Qobj(np.diag(np.diag(A)).astype(complex)), lambda t, nu=nu: np.exp(1j * nu * t)],
            [A[0, 1] * qt.sigmap(), lambda t, nu=nu: np.exp(1j * (nu - wl) * t)],
            [A[1, 0] * qt.sigmam(), lambda t, nu=nu: np.exp(1j * (nu + wl) * t)]]))
    psi0 = qt.basis(2, 1)                                          # ground state |g>
    options = dict(keep_runs_results=True, progress_bar="", map="serial")
    start = time.perf_counter()
    result = qt.mcsolve(H, psi0, spec.output_times(), c_ops=collapse,
                        e_ops=[qt.sigmax(), qt.sigmay(), qt.sigmaz()], ntraj=trajectories,
                        seeds=seed, options=options)
    seconds = time.perf_counter() - start
    runs = np.array(result.runs_expect).real                      # (3, trajectories, times)
    variance = runs.var(axis=1, ddof=1).sum(axis=0).mean()
    return trajectories / seconds, variance


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=400_000)
    parser.add_argument("--qutip-trajectories", type=int, default=200)
    args = parser.parse_args()
    spec = DrivenQubit()                                            # ground start, t in [0, 40], 201 times
    rate, variance = ours(spec, args.trajectories)
    print(f"mcthermo jump kernel: {rate:,.0f} trajectories/s, per-trajectory Bloch variance {variance:.4f}")
    try:
        import qutip  # noqa: F401
    except ImportError:
        print("QuTiP not installed: no comparison")
        return
    q_rate, q_variance = qutip_mcsolve(spec, args.qutip_trajectories)
    print(f"QuTiP mcsolve:        {q_rate:,.1f} trajectories/s, per-trajectory Bloch variance {q_variance:.4f}")
    speedup = (q_variance / q_rate) / (variance / rate)
    print(f"speed-up at equal statistical error on the Bloch vector: {speedup:,.0f}x")


if __name__ == "__main__":
    main()
