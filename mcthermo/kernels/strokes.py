"""Sampler of stroke protocols on d levels: one alias-table draw per random step.

A trajectory is a level path s_0, s_1, ..., drawn step by step from the rows P_n[s, .] of the
protocol's transition matrices (the initial draw from p0 is step 0).  Each row is an alias table
over D = 2^k >= d columns, built once per protocol (never per trajectory): one 64-bit
xoshiro256** draw x gives the column from its top k bits and a 53-bit uniform from its low bits;
the level is the column's own level if the uniform is below the column's threshold, else its
alias.  Thresholds are integers built by an exact integer Vose construction, so outcome j has
probability w_j / (D 2^53) with integer weights w_j = P[s, j] D 2^53 rounded (|error| <= d 2^-53 per
row; zero probabilities stay exactly zero).

Steps that are permutations (adiabatic quenches, strength-0 thermalisations) draw nothing: they are
folded into the preceding random step (its outcomes relabelled, its increments extended).

Observables (work, heats) live on an integer lattice; a trajectory carries one int64 key, the flat
index of (initial level, final level, lattice indices) in the C-ordered histogram box, to which
each transition adds a precomputed integer.  Counts of keys merge by addition, so the histogram is
bit-identical whatever the thread count, chunk size or Dask worker count.
"""
from collections import namedtuple

import numba
import numpy as np

from ._jit import inline, parallel_kernel
from .rng import keyed_state, next_uint64, stream_key

#: ``slots`` (rows x D, 5) int64: per random step r (step 0 = the initial draw) and current level
#: s, a row of D slots (one per column; identical rows of a step shared): the 53-bit threshold,
#: the offset of the next step's row for the column's own level and for its alias, and the key
#: increments of those two outcomes (the last step's include the final level's key stride).  ``shift`` = 64 - log2 D: the column is the top
#: bits of the draw.
#: ``shared[r]`` is the offset of step r + 1's row when it does not depend on step r's outcome
#: (then no load waits on the outcome), else -1.
StrokeTables = namedtuple("StrokeTables", "slots shift steps shared")

_LOW53 = np.uint64((1 << 53) - 1)
_SCALE = 1 << 53


def alias_row(probabilities, columns: int):
    """Integer alias table (threshold, primary, alias) of a distribution over ``columns`` (a power
    of two >= its length): column c yields level c with probability threshold[c] / 2**53, else
    alias[c]."""
    p = np.asarray(probabilities, dtype=np.float64)
    total = columns * _SCALE
    weights = [int(w) for w in np.floor(p * total / p.sum())] + [0] * (columns - p.size)
    weights[int(np.argmax(p))] += total - sum(weights)  # rounding remainder on the likeliest level
    threshold, alias = [_SCALE] * columns, list(range(columns))
    small = [c for c in range(columns) if weights[c] < _SCALE]
    large = [c for c in range(columns) if weights[c] >= _SCALE]
    while small and large:
        c, other = small.pop(), large[-1]
        threshold[c], alias[c] = weights[c], other
        weights[other] -= _SCALE - weights[c]
        if weights[other] < _SCALE:
            small.append(large.pop())
    # integer arithmetic: what remains holds exactly 2**53 per column
    return (np.array(threshold, dtype=np.uint64), np.arange(columns, dtype=np.int64),
            np.array(alias, dtype=np.int64))


def alias_probabilities(threshold, primary, alias, levels: int) -> np.ndarray:
    """The exact probabilities an alias row samples (for tests): sum over columns / (D 2**53)."""
    columns = threshold.size
    kept = threshold.astype(np.float64)
    p = np.bincount(primary, kept, levels) + np.bincount(alias, _SCALE - kept, levels)
    return p / (columns * float(_SCALE))


def stroke_tables(log_initial, log_transition, flat_steps, origin, initial_stride, final_stride):
    """Kernel tables of a protocol: ln p0 (d,), ln P_n (S, d, d), the key increment of every
    transition (S, d, d), the key ``origin`` of all observables zero and the key strides of the
    initial and final levels."""
    d = log_initial.size
    columns = max(2, 1 << (d - 1).bit_length())
    p0 = np.exp(log_initial)
    steps = [(np.tile(p0, (d, 1)), np.tile(origin + initial_stride * np.arange(d), (d, 1)))]
    for log_step, increment in zip(log_transition, flat_steps):
        step = np.exp(log_step)
        target = np.argmax(step, axis=1)
        if np.all(step[np.arange(d), target] == 1.0):
            # a permutation: relabel the previous step's outcomes and extend their increments
            previous, previous_increment = steps[-1]
            steps[-1] = (previous[:, np.argsort(target)],
                         previous_increment[:, np.argsort(target)]
                         + increment[np.argsort(target), np.sort(target)][None, :])
            continue
        steps.append((step, increment))
    # rows of equal probabilities and increments within a step are stored once (a full
    # thermalisation's rows often coincide): row_of[r][s] is the slot offset of level s at step r
    row_of, unique = [], []
    for step, increment in steps:
        seen = {}
        for s in range(d):
            seen.setdefault((step[s].tobytes(), increment[s].tobytes()), s)
        row_of.append({})
        for s in range(d):
            first = seen[(step[s].tobytes(), increment[s].tobytes())]
            if first == s:
                unique.append((len(row_of) - 1, s))
            row_of[-1][s] = row_of[-1][first] if first != s else (len(unique) - 1) * columns
    row_of.append({s: 0 for s in range(d)})  # after the last step: never read
    tables = {}
    slots = np.empty((len(unique), columns, 5), dtype=np.int64)
    for u, (r, s) in enumerate(unique):
        step, increment = steps[r]
        key = step[s].tobytes()
        if key not in tables:
            tables[key] = alias_row(step[s], columns)
        threshold, primary, alias = tables[key]
        primary, alias = np.minimum(primary, d - 1), np.minimum(alias, d - 1)  # padding: threshold 0
        last = final_stride * np.arange(d) if r == len(steps) - 1 else np.zeros(d, np.int64)
        following = np.array([row_of[r + 1][level] for level in range(d)], dtype=np.int64)
        slots[u, :, 0] = threshold.astype(np.int64)
        slots[u, :, 1], slots[u, :, 2] = following[primary], following[alias]
        slots[u, :, 3] = increment[s, primary] + last[primary]
        slots[u, :, 4] = increment[s, alias] + last[alias]
    shift = np.uint64(64 - (columns.bit_length() - 1))
    shared = np.array([row_of[r + 1][0] if len(set(row_of[r + 1].values())) == 1 else -1
                       for r in range(len(steps))], dtype=np.int64)
    return StrokeTables(slots.reshape(-1, 5), shift, len(steps), shared)


@inline
def _trajectory(key, index, tables):
    """The histogram key of trajectory ``index`` of the stream with key ``key``."""
    s0, s1, s2, s3 = keyed_state(key, index)
    slots = tables.slots
    row = np.int64(0)
    flat = np.int64(0)
    for r in range(tables.steps):
        x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
        i = row + np.int64(x >> tables.shift)
        own = np.int64(x & _LOW53) < slots[i, 0]  # the column's own level, else its alias
        flat += slots[i, 3] if own else slots[i, 4]
        following = tables.shared[r]
        # the only dependency between steps is the next row: known in advance when shared, else
        # both candidates are loaded alongside the threshold and one is selected
        own_row, alias_row = slots[i, 1], slots[i, 2]
        row = following if following >= 0 else (own_row if own else alias_row)
    return flat


@parallel_kernel
def stroke_counts(seed, stream, first, count, tables, cells, blocks):
    """Counts of trajectories ``first .. first + count - 1`` per histogram key (int64, ``cells``);
    ``blocks`` partial histograms filled in parallel and added (integers: thread-independent)."""
    partial = np.zeros((blocks, cells), dtype=np.int64)
    per_block = (count + blocks - 1) // blocks
    key = stream_key(seed, stream)
    for b in numba.prange(blocks):
        for t in range(b * per_block, min(count, (b + 1) * per_block)):
            partial[b, _trajectory(key, first + t, tables)] += 1
    return partial.sum(axis=0)


@parallel_kernel
def stroke_keys(seed, stream, first, count, tables):
    """The histogram key of each trajectory ``first .. first + count - 1``."""
    out = np.empty(count, dtype=np.int64)
    key = stream_key(seed, stream)
    for t in numba.prange(count):
        out[t] = _trajectory(key, first + t, tables)
    return out
