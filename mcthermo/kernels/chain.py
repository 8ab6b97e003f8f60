"""Two-state Markov chain with a moving level: the staircase and the Landau–Zener crossing.

One trajectory: the occupation ``n`` in {0, 1} starts from Bernoulli(p_initial); then for every
event i = 0..M-1 the level moves (work ``n * rise[i]``, recorded as the integer ``n * weight[i]``)
and the occupation is kept with probability R_i or redrawn from Bernoulli(f_i); a last move
``weight[M]`` follows the last event.  Both branches merge into one Bernoulli draw per event:

    P(n' = 1 | n) = R_i * n + (1 - R_i) * f_i  =  threshold_n[i] / 2**32.

Since threshold_0 <= threshold_1, the new occupation is ``(k < threshold_0) | (n & (k < threshold_1))``:
both comparisons are independent of ``n``, which keeps the loop-carried dependency to two integer
operations (a table look-up indexed by ``n`` runs at a third of the speed).  Each 64-bit draw
serves two consecutive draws through its 32-bit halves (the initial draw and event 0 share the
first), so a trajectory costs ceil((M + 1) / 2) generator steps; every probability is resolved to
2**-32 (rounded up, error < 2.3e-10 per step; exact for 0 and 1).

The output is the integer count of trajectories per (initial occupation, final occupation, work
index): every observable of both models is a function of that triple, so counts merge exactly
across blocks, chunks and machines.
"""
import numba
import numpy as np

from ._jit import inline, kernel, parallel_kernel
from .rng import halves, keyed_state, next_uint64, stream_key


@inline
def _step(k, n, empty, occupied):
    """Occupation after one event given the 32-bit uniform ``k`` (P(1|0) = empty, P(1|1) = occupied)."""
    return np.int64(k < empty) | (n & np.int64(k < occupied))


@inline
def _trajectory(key, index, initial_threshold, threshold_0, threshold_1, weights, record):
    """Sample trajectory ``index`` of the stream ``key``: returns (initial occupation, final
    occupation, work index); writes the occupation after each event into ``record`` unless empty."""
    s0, s1, s2, s3 = keyed_state(key, index)
    x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
    high, low = halves(x)
    n = np.int64(high < initial_threshold)
    n_initial = n
    work_index = n * weights[0]
    keep = record.size > 0
    if keep:
        record[0] = n
    events = threshold_0.shape[0]
    if events > 0:  # event 0 uses the low half of the first draw
        n = _step(low, n, threshold_0[0], threshold_1[0])
        work_index += n * weights[1]
        if keep:
            record[1] = n
    i = 1
    while i < events:  # two events per draw
        x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
        high, low = halves(x)
        n = _step(high, n, threshold_0[i], threshold_1[i])
        work_index += n * weights[i + 1]
        if keep:
            record[i + 1] = n
        if i + 1 < events:
            n = _step(low, n, threshold_0[i + 1], threshold_1[i + 1])
            work_index += n * weights[i + 2]
            if keep:
                record[i + 2] = n
        i += 2
    return n_initial, n, work_index


@parallel_kernel
def chain_counts(seed, stream, first, count, initial_threshold, threshold_0, threshold_1, weights,
                 lattice_size, blocks):
    """Counts of trajectories ``first .. first + count - 1`` per (n_initial, n_final, work index).

    ``blocks`` independent partial histograms are filled in parallel and added (integers: the
    result does not depend on the number of threads or blocks).
    """
    partial = np.zeros((blocks, 2, 2, lattice_size), dtype=np.int64)
    per_block = (count + blocks - 1) // blocks
    no_record = np.empty(0, dtype=np.int8)
    key = stream_key(seed, stream)
    for b in numba.prange(blocks):
        start = b * per_block
        stop = min(count, start + per_block)
        for t in range(start, stop):
            n0, n1, m = _trajectory(key, first + t, initial_threshold, threshold_0, threshold_1,
                                    weights, no_record)
            partial[b, n0, n1, m] += 1
    return partial.sum(axis=0)


@parallel_kernel
def chain_paths(seed, stream, first, count, initial_threshold, threshold_0, threshold_1, weights):
    """Per-trajectory rows: initial occupation, final occupation and work index of each trajectory."""
    n_initial = np.empty(count, dtype=np.int8)
    n_final = np.empty(count, dtype=np.int8)
    work_index = np.empty(count, dtype=np.int64)
    no_record = np.empty(0, dtype=np.int8)
    key = stream_key(seed, stream)
    for t in numba.prange(count):
        n0, n1, m = _trajectory(key, first + t, initial_threshold, threshold_0, threshold_1, weights,
                                no_record)
        n_initial[t] = n0
        n_final[t] = n1
        work_index[t] = m
    return n_initial, n_final, work_index


@kernel
def chain_occupations(seed, stream, index, initial_threshold, threshold_0, threshold_1, weights):
    """The occupation after every event of one trajectory (n_0 .. n_M), for plots of single paths."""
    record = np.empty(threshold_0.shape[0] + 1, dtype=np.int8)
    _trajectory(stream_key(seed, stream), index, initial_threshold, threshold_0, threshold_1, weights,
                record)
    return record
