"""Two-state Markov chain with a moving level: the staircase and the Landau–Zener crossing.

One trajectory: the occupation ``n`` in {0, 1} starts from Bernoulli(p_initial); then for every
event i = 0..M-1 the level moves (work ``n * rise[i]``, recorded as the integer ``n * weight[i]``)
and the occupation is kept with probability R_i or redrawn from Bernoulli(f_i); a last move
``weight[M]`` follows the last event.  Both branches merge into one Bernoulli draw per event:

    P(n' = 1 | n) = R_i * n + (1 - R_i) * f_i  =  threshold_n[i] / 2**53,

so a step costs exactly one 53-bit uniform.  Since threshold_0 <= threshold_1, the new occupation is
``(k < threshold_0) | (n & (k < threshold_1))``: both comparisons are independent of ``n``, which
keeps the loop-carried dependency to two integer operations (a table look-up indexed by ``n``
runs at a third of the speed).  The output is the integer count of trajectories per
(initial occupation, final occupation, work index) — every observable of both models is a function
of that triple, so counts merge exactly across blocks, chunks and machines.
"""
import numba
import numpy as np

from ._jit import inline, kernel, parallel_kernel
from .rng import trajectory_state, uniform53


@inline
def _trajectory(seed, stream, index, initial_threshold, threshold_0, threshold_1, weights):
    """Sample one trajectory: returns (initial occupation, final occupation, work index)."""
    s0, s1, s2, s3 = trajectory_state(seed, stream, index)
    k, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
    n = np.int64(k < initial_threshold)
    n_initial = n
    work_index = n * weights[0]
    for i in range(threshold_0.shape[0]):
        k, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
        n = np.int64(k < threshold_0[i]) | (n & np.int64(k < threshold_1[i]))
        work_index += n * weights[i + 1]
    return n_initial, n, work_index


@parallel_kernel
def chain_counts(seed, stream, first, count, initial_threshold, threshold_0, threshold_1, weights, lattice_size, blocks):
    """Counts of trajectories ``first .. first + count - 1`` per (n_initial, n_final, work index).

    ``blocks`` independent partial histograms are filled in parallel and added (integers: the
    result does not depend on the number of threads or blocks).
    """
    partial = np.zeros((blocks, 2, 2, lattice_size), dtype=np.int64)
    per_block = (count + blocks - 1) // blocks
    for b in numba.prange(blocks):
        start = b * per_block
        stop = min(count, start + per_block)
        for t in range(start, stop):
            n0, n1, m = _trajectory(seed, stream, first + t, initial_threshold, threshold_0, threshold_1, weights)
            partial[b, n0, n1, m] += 1
    return partial.sum(axis=0)


@parallel_kernel
def chain_paths(seed, stream, first, count, initial_threshold, threshold_0, threshold_1, weights):
    """Per-trajectory rows: initial occupation, final occupation and work index of each trajectory."""
    n_initial = np.empty(count, dtype=np.int8)
    n_final = np.empty(count, dtype=np.int8)
    work_index = np.empty(count, dtype=np.int64)
    for t in numba.prange(count):
        n0, n1, m = _trajectory(seed, stream, first + t, initial_threshold, threshold_0, threshold_1, weights)
        n_initial[t] = n0
        n_final[t] = n1
        work_index[t] = m
    return n_initial, n_final, work_index


@kernel
def chain_occupations(seed, stream, index, initial_threshold, threshold_0, threshold_1):
    """The occupation after every event of one trajectory (length M + 1), for plots of single paths."""
    s0, s1, s2, s3 = trajectory_state(seed, stream, index)
    out = np.empty(threshold_0.shape[0] + 1, dtype=np.int8)
    k, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
    n = np.int64(k < initial_threshold)
    out[0] = n
    for i in range(threshold_0.shape[0]):
        k, s0, s1, s2, s3 = uniform53(s0, s1, s2, s3)
        n = np.int64(k < threshold_0[i]) | (n & np.int64(k < threshold_1[i]))
        out[i + 1] = n
    return out
