"""Two-state Markov chain with a moving level: the staircase and the Landau–Zener crossing.

One trajectory is the occupation n in {0, 1} after each of E events.  Event 0 draws the initial
occupation; at every later event the occupation is kept with probability R or redrawn from
Bernoulli(f).  Both branches are one draw per event with two state-independent outcomes:

    gain  G  (n' = 1 whatever n)   probability  P(n'=1 | n=0) = (1 - R) f
    loss  K  (n' = 0 whatever n)   probability  P(n'=0 | n=1) = (1 - R)(1 - f)
    neither  (n' = n)                                            = R

so n' = G | (n & ~K).  With a uniform u per event, G = [u < gain] and K = [1 - u < loss] (disjoint
since gain + loss <= 1).  The initial event has gain = p_initial, loss = 1 - p_initial.

Exact Bernoulli draws from 16-bit lanes.  Each 64-bit xoshiro256** draw supplies the leading 16
bits of four events' uniforms (lanes, least significant first).  Those bits decide G and K unless
they equal the leading 16 bits of ``gain`` (or of ``loss`` for the complement 1 - u): probability
2**-16 per comparison.  Such a tie is settled exactly by continuing u's binary expansion with
52-bit chunks from a separate refinement stream of the same trajectory, so every event is an exact
Bernoulli draw with the double-precision probability (no resolution floor: P = 1e-300 stays 1e-300).

Bit-parallel steps.  Events are processed in blocks of 32 (``LANES``): one vector compare gives the
masks G, K and ties for the block; the recursion n_j = G_j | (n_{j-1} & ~K_j) is the carry chain
of a binary addition (generate G, propagate ~(G | K), kill K), so one integer addition yields the
occupation after all 32 events.  The work index adds ``weights[j]`` for every occupied event j
(the level moved by ``rise[j]`` while occupied): a popcount where a block's weights are equal.

The output is the integer count of trajectories per (initial occupation, final occupation, work
index): every observable of both models is a function of that triple, so counts merge exactly
across blocks, chunks and machines.
"""
from collections import namedtuple

import numba
import numpy as np

from ._jit import inline, kernel, parallel_kernel
from .lanes import LANES, lane_masks, popcount, trailing_zeros
from .rng import keyed_state, next_uint64, refinement_key, stream_key

#: Per-event tables of one protocol, padded with no-op events (gain = loss = 0, weight 0) to a
#: multiple of LANES.  ``below``/``above`` are the uint16 fast thresholds: G if lane < below,
#: K if lane > above, a tie (settled exactly) if equal to either.  ``weighted`` marks, per block,
#: the events with a non-zero weight and ``block_weight`` is their common weight (-1 if unequal).
ChainTables = namedtuple("ChainTables", "events below above gain loss weights weighted block_weight")

_U16 = np.uint64(0xFFFF)
_S16 = np.uint64(16)
_S32 = np.uint64(32)
_S48 = np.uint64(48)
_S12 = np.uint64(12)
_ONE = np.uint64(1)
_BLOCK = np.uint64((1 << LANES) - 1)
_TOP = np.uint64(LANES - 1)
_LANE_SCALE = 65536.0
_CHUNK_SCALE = 4503599627370496.0  # 2**52
_CHUNK_MAX = 4503599627370495.0  # 2**52 - 1


@inline
def _fill(lanes, words, s0, s1, s2, s3):
    """Write the four 16-bit lanes of ``words`` draws into ``lanes`` (least significant first)."""
    for d in range(words):
        x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
        lanes[4 * d] = x & _U16
        lanes[4 * d + 1] = (x >> _S16) & _U16
        lanes[4 * d + 2] = (x >> _S32) & _U16
        lanes[4 * d + 3] = x >> _S48
    return s0, s1, s2, s3


@inline
def _leading(probability, scale, digits):
    """(decided, outcome, remainder) of comparing the next ``digits`` of a uniform with
    ``probability`` written in base ``scale``: outcome = digits < leading digit of probability."""
    x = probability * scale  # exact: scaling by a power of two
    head = np.floor(x)
    if digits < head:
        return True, True, 0.0
    if digits > head:
        return True, False, 0.0
    remainder = x - head  # exact
    return remainder == 0.0, False, remainder


@kernel
def _settle(lane, gain, loss, r0, r1, r2, r3, seeded, refine, index):
    """Exact (G, K) of one event whose 16-bit ``lane`` tied a fast threshold: u = 0.lane c1 c2 ...
    with 52-bit chunks c_i of the refinement stream (drawn only while G or K is undecided; the
    complement 1 - u has digits 65535 - lane, 2**52 - 1 - c_i).  Returns (G, K, r0..r3, seeded)."""
    g_done, g, g_rest = _leading(gain, _LANE_SCALE, float(lane))
    k_done, k, k_rest = _leading(loss, _LANE_SCALE, float(65535 - lane))
    while not (g_done and k_done):
        if not seeded:
            r0, r1, r2, r3 = keyed_state(refine, index)
            seeded = True
        x, r0, r1, r2, r3 = next_uint64(r0, r1, r2, r3)
        chunk = float(x >> _S12)
        if not g_done:
            g_done, g, g_rest = _leading(g_rest, _CHUNK_SCALE, chunk)
        if not k_done:
            k_done, k, k_rest = _leading(k_rest, _CHUNK_SCALE, _CHUNK_MAX - chunk)
    return g, k, r0, r1, r2, r3, seeded


@inline
def _trajectory(key, refine, index, tables, lanes, record):
    """Sample trajectory ``index`` of the stream with key ``key``: returns (initial occupation, final
    occupation, work index); writes the occupation after each event into ``record`` unless empty.
    ``lanes`` is a scratch uint16 array of LANES entries."""
    s0, s1, s2, s3 = keyed_state(key, index)
    r0, r1, r2, r3 = s0, s1, s2, s3  # refinement stream, seeded at the first tie only
    seeded = False
    events = tables.events
    n = np.uint64(0)
    n_initial = np.int64(0)
    work_index = np.int64(0)
    for block in range(tables.block_weight.shape[0]):
        base = block * LANES
        words = min(LANES // 4, (events - base + 3) // 4)
        if words < LANES // 4:
            lanes[:] = 1  # lanes past the last event: no gain, no loss, no tie
        s0, s1, s2, s3 = _fill(lanes, words, s0, s1, s2, s3)
        gain, loss, ties = lane_masks(lanes, tables.below, tables.above, base)
        while ties:  # probability ~2**-15 per event
            j = trailing_zeros(ties)
            g, k, r0, r1, r2, r3, seeded = _settle(
                lanes[j], tables.gain[base + j], tables.loss[base + j], r0, r1, r2, r3, seeded, refine,
                index)
            bit = _ONE << j
            gain = (gain | bit) if g else (gain & ~bit)
            loss = (loss | bit) if k else (loss & ~bit)
            ties &= ties - _ONE
        # carries of (generate | propagate) + generate + n: carry into lane j + 1 = occupation
        # after event j, with generate = gain and propagate = neither gain nor loss
        propagate = ~(gain | loss) & _BLOCK
        a = gain | propagate
        occupied = (((a + gain + n) ^ a ^ gain) >> _ONE) & _BLOCK
        n = occupied >> _TOP
        if block == 0:
            n_initial = np.int64(occupied & _ONE)
        weighted = occupied & tables.weighted[block]
        if tables.block_weight[block] >= 0:
            work_index += np.int64(popcount(weighted)) * tables.block_weight[block]
        else:
            while weighted:
                work_index += tables.weights[base + trailing_zeros(weighted)]
                weighted &= weighted - _ONE
        for j in range(min(LANES, record.shape[0] - base)):
            record[base + j] = (occupied >> np.uint64(j)) & _ONE
    return n_initial, np.int64(n), work_index


@parallel_kernel
def chain_counts(seed, stream, first, count, tables, lattice_size, blocks):
    """Counts of trajectories ``first .. first + count - 1`` per (n_initial, n_final, work index).

    ``blocks`` independent partial histograms are filled in parallel and added (integers: the
    result does not depend on the number of threads or blocks).
    """
    partial = np.zeros((blocks, 2, 2, lattice_size), dtype=np.int64)
    per_block = (count + blocks - 1) // blocks
    no_record = np.empty(0, dtype=np.int8)
    key = stream_key(seed, stream)
    refine = refinement_key(key)
    for b in numba.prange(blocks):
        lanes = np.empty(LANES, dtype=np.uint16)
        for t in range(b * per_block, min(count, (b + 1) * per_block)):
            n0, n1, m = _trajectory(key, refine, first + t, tables, lanes, no_record)
            partial[b, n0, n1, m] += 1
    return partial.sum(axis=0)


@parallel_kernel
def chain_paths(seed, stream, first, count, tables, blocks):
    """Per-trajectory rows: initial occupation, final occupation and work index of each trajectory."""
    n_initial = np.empty(count, dtype=np.int8)
    n_final = np.empty(count, dtype=np.int8)
    work_index = np.empty(count, dtype=np.int64)
    per_block = (count + blocks - 1) // blocks
    no_record = np.empty(0, dtype=np.int8)
    key = stream_key(seed, stream)
    refine = refinement_key(key)
    for b in numba.prange(blocks):
        lanes = np.empty(LANES, dtype=np.uint16)
        for t in range(b * per_block, min(count, (b + 1) * per_block)):
            n0, n1, m = _trajectory(key, refine, first + t, tables, lanes, no_record)
            n_initial[t] = n0
            n_final[t] = n1
            work_index[t] = m
    return n_initial, n_final, work_index


@kernel
def chain_occupations(seed, stream, index, tables):
    """The occupation after every event of one trajectory (n_0 .. n_M), for plots of single paths."""
    record = np.empty(tables.events, dtype=np.int8)
    key = stream_key(seed, stream)
    lanes = np.empty(LANES, dtype=np.uint16)
    _trajectory(key, refinement_key(key), index, tables, lanes, record)
    return record
