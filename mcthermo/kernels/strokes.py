"""Sampler of stroke protocols on d levels: one alias-table draw per random step.

A trajectory is a level path s_0, s_1, ..., drawn step by step from the rows P_n[s, .] of the
protocol's transition matrices (the initial draw from p0 is step 0).  Each row is an alias table
over D = 2^k >= d columns, built once per protocol (never per trajectory): one 64-bit
xoshiro256** draw x gives the column from its top k bits and a 53-bit uniform from its low bits;
the level is the column's own level if the uniform is below the column's threshold, else its
alias.  Thresholds are integers built by an exact integer Vose construction, so outcome j has
probability w_j / (D 2^53) with integer weights w_j = P[s, j] D 2^53 rounded (|error| <= d 2^-53 per
row; zero probabilities stay exactly zero).

Steps that are permutations (certain and one-to-one: adiabatic quenches, strength-0 thermalisations)
draw nothing: they are folded into the preceding random step (its outcomes relabelled, its
increments extended).

Observables (work, heats) live on an integer lattice; a trajectory carries one int64 key, the flat
index of (initial level, final level, lattice indices) in the C-ordered histogram box, to which
each transition adds a precomputed integer.  Counts of keys merge by addition, so the histogram is
bit-identical whatever the thread count, chunk size or Dask worker count.  Moment-only sampling
adds float values per transition instead and sums them per fixed block of trajectory indices.

The tables are rows of slots (threshold, next row for either outcome, their increments): the only
dependency from one step to the next is the row offset, and none where all of a step's outcomes
lead to the same row (e.g. a full thermalisation whose heat is not tracked).  The histogram kernel
samples LANES trajectories side by side (``_lanes``): their seedings and draws vectorise and their
table lookups overlap; each trajectory still gets its own draws, so its key is unchanged.
"""
from collections import namedtuple

import numba
import numpy as np

from ._jit import inline, parallel_kernel
from .rng import keyed_state, next_uint64, stream_key

#: ``slots`` (rows x D, 4) int64, 32-byte slots: per random step r (step 0 = the initial draw) and
#: current level s, a row of D slots (one per column; identical rows of a step shared): the 53-bit
#: threshold, the offsets of the next step's row for the column's own level (low 32 bits) and for
#: its alias (high 32 bits) packed in one word, and the key increments of those two outcomes (the
#: last step's include the final level's key stride).  ``shift`` = 64 - log2 D: the column is the top
#: bits of the draw.
#: ``shared[r]`` is the offset of step r + 1's row when it does not depend on step r's outcome
#: (then no load waits on the outcome), else -1.
#: ``values`` (rows x D, 2, M) float: per slot, the M float values added for its own level and
#: its alias (moment-only sampling).
StrokeTables = namedtuple("StrokeTables", "slots shift steps shared values")

_LOW53 = np.uint64((1 << 53) - 1)
_LOW32 = np.int64((1 << 32) - 1)
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


def _draws_nothing(step) -> bool:
    """A permutation step: every level goes to one level with probability 1 AND no two levels go to
    the same one (a near-zero-temperature thermalisation sends every level to the ground state with
    probability 1.0 in float64: certain, not a permutation, and sampled like any random step)."""
    target = np.argmax(step, axis=1)
    return bool(np.all(step[np.arange(step.shape[0]), target] == 1.0)
                and np.unique(target).size == step.shape[0])


def random_step_count(log_transition) -> int:
    """Draws per trajectory of ``stroke_tables`` (the initial draw and every step that is not a
    permutation), without building the tables."""
    return 1 + sum(not _draws_nothing(np.exp(log_step)) for log_step in log_transition)


def _random_steps(log_initial, log_transition, starts, increments):
    """[(rows P[s, s'], [increments (d, d, ...)])] of the random steps, the initial draw first (rows
    all p0, increments starts[k][s'] whatever s); a permutation step draws nothing: it relabels
    the outcomes of the step before and extends their increments."""
    d = log_initial.size
    steps = [(np.tile(np.exp(log_initial), (d, 1)), [np.broadcast_to(start, (d, *start.shape)) for start in starts])]
    for n, log_step in enumerate(log_transition):
        step = np.exp(log_step)
        if _draws_nothing(step):
            back = np.argsort(np.argmax(step, axis=1))  # the level that each level comes from
            rows, previous = steps[-1]
            steps[-1] = (rows[:, back], [before[:, back] + inc[n][back, np.arange(d)][None]
                                         for before, inc in zip(previous, increments)])
            continue
        steps.append((step, [inc[n] for inc in increments]))
    return steps


def stroke_tables(log_initial, log_transition, key_steps, key_start, key_end, value_steps=None,
                  value_start=None, value_end=None) -> StrokeTables:
    """Kernel tables of a protocol: ln p0 (d,), ln P_n (S, d, d); the histogram key's increment on
    every transition (S, d, d), for the initial level (d,) and for the final level (d,); optionally
    float values accumulated alike (``value_*`` with a trailing axis of M values)."""
    d = log_initial.size
    columns = max(2, 1 << (d - 1).bit_length())
    if value_steps is None:
        value_steps, value_start, value_end = (np.zeros(log_transition.shape + (0,)), np.zeros((d, 0)),
                                               np.zeros((d, 0)))
    steps = _random_steps(log_initial, log_transition, [np.asarray(key_start, np.int64), value_start],
                          [np.asarray(key_steps, np.int64), value_steps])
    # rows of equal probabilities and increments within a step are stored once (a full
    # thermalisation's rows often coincide): row_of[r][s] is the slot offset of level s at step r
    row_of, unique = [], []
    for step, (key, value) in steps:
        seen = {}
        for s in range(d):
            seen.setdefault((step[s].tobytes(), key[s].tobytes(), value[s].tobytes()), s)
        row_of.append({})
        for s in range(d):
            first = seen[(step[s].tobytes(), key[s].tobytes(), value[s].tobytes())]
            if first == s:
                unique.append((len(row_of) - 1, s))
            row_of[-1][s] = row_of[-1][first] if first != s else (len(unique) - 1) * columns
    row_of.append({s: 0 for s in range(d)})  # after the last step: never read
    tables = {}
    slots = np.zeros((len(unique), columns, 4), dtype=np.int64)  # 32-byte slots: two per cache line
    if len(unique) * columns >= 1 << 31:
        raise ValueError(f"the protocol needs {len(unique) * columns} table slots (limit 2**31)")
    values = np.empty((len(unique), columns, 2, value_start.shape[1]))
    for u, (r, s) in enumerate(unique):
        step, (key, value) = steps[r]
        if step[s].tobytes() not in tables:
            tables[step[s].tobytes()] = alias_row(step[s], columns)
        threshold, primary, alias = tables[step[s].tobytes()]
        primary, alias = np.minimum(primary, d - 1), np.minimum(alias, d - 1)  # padding: threshold 0
        last = r == len(steps) - 1
        key_last = np.asarray(key_end, np.int64) if last else np.zeros(d, np.int64)
        value_last = value_end if last else np.zeros_like(value_end)
        following = np.array([row_of[r + 1][level] for level in range(d)], dtype=np.int64)
        slots[u, :, 0] = threshold.astype(np.int64)
        slots[u, :, 1] = following[primary] | (following[alias] << 32)
        slots[u, :, 2] = key[s, primary] + key_last[primary]
        slots[u, :, 3] = key[s, alias] + key_last[alias]
        values[u, :, 0] = value[s, primary] + value_last[primary]
        values[u, :, 1] = value[s, alias] + value_last[alias]
    shift = np.uint64(64 - (columns.bit_length() - 1))
    shared = np.array([row_of[r + 1][0] if len(set(row_of[r + 1].values())) == 1 else -1
                       for r in range(len(steps))], dtype=np.int64)
    return StrokeTables(slots.reshape(-1, 4), shift, len(steps), shared,
                        np.ascontiguousarray(values.reshape(len(unique) * columns, 2, value_start.shape[1])))


#: Trajectories sampled side by side by one thread in ``stroke_counts``: their seedings and xoshiro
#: steps run as loops over the lanes that the compiler turns into SIMD code, and the table lookups
#: of different lanes do not wait on each other (one trajectory's lookups form a dependent chain).
#: 16 and 32 measured best; at 8 the compiler unrolls the lane loops fully and leaves them scalar.
LANES = 16

_ONE = np.uint64(1)
_TWO = np.uint64(2)
_THREE = np.uint64(3)
_THIRTY_TWO = np.uint64(32)
_LOW32U = np.uint64((1 << 32) - 1)


@inline
def _step(x, row, flat, following, words, shift):
    """One random step of a trajectory in the slot row ``row`` with the draw ``x``: (the next row,
    the key ``flat`` plus the step's increment).  ``words`` are the slots flattened, 4 words a slot
    (unsigned indices: no negative-index wraparound on the dependent chain)."""
    i = (row + (x >> shift)) << _TWO
    own = np.int64(x & _LOW53) < words[i]  # the column's own level, else its alias
    flat += words[i + _TWO] if own else words[i + _THREE]
    # the only dependency between steps is the next row: known in advance when shared, else both
    # candidates are loaded with the threshold (one word) and one is selected
    rows = np.uint64(words[i + _ONE])
    chosen = (rows & _LOW32U) if own else (rows >> _THIRTY_TWO)
    return (np.uint64(following) if following >= 0 else chosen), flat


@inline
def _trajectory(key, index, tables, words):
    """The histogram key of trajectory ``index`` of the stream with key ``key`` (``words`` =
    ``tables.slots.reshape(-1)``)."""
    s0, s1, s2, s3 = keyed_state(key, index)
    row = np.uint64(0)
    flat = np.int64(0)
    for r in range(tables.steps):
        x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
        row, flat = _step(x, row, flat, tables.shared[r], words, tables.shift)
    return flat


@inline
def _lanes(key, index, tables, words, lanes):
    """The histogram keys of the LANES trajectories ``index ..``, the same draws and keys as
    ``_trajectory``, in ``lanes[6 LANES:]`` (uint64 bits of the int64 keys).  ``lanes`` (7 LANES,)
    uint64 holds per lane its xoshiro state (4 words), draw, row and key: one array of fixed
    offsets, so the loops over lanes vectorise."""
    n = LANES
    for k in range(n):
        s0, s1, s2, s3 = keyed_state(key, index + k)
        lanes[k], lanes[n + k], lanes[2 * n + k], lanes[3 * n + k] = s0, s1, s2, s3
        lanes[5 * n + k] = 0
        lanes[6 * n + k] = 0
    for r in range(tables.steps):
        for k in range(n):
            x, s0, s1, s2, s3 = next_uint64(lanes[k], lanes[n + k], lanes[2 * n + k], lanes[3 * n + k])
            lanes[k], lanes[n + k], lanes[2 * n + k], lanes[3 * n + k] = s0, s1, s2, s3
            lanes[4 * n + k] = x
        following = tables.shared[r]
        if following >= 0:  # the next row whatever the outcome: no selection
            for k in range(n):
                x = lanes[4 * n + k]
                i = (lanes[5 * n + k] + (x >> tables.shift)) << _TWO
                own = np.int64(x & _LOW53) < words[i]
                lanes[6 * n + k] += np.uint64(words[i + _TWO] if own else words[i + _THREE])
                lanes[5 * n + k] = np.uint64(following)
        else:
            for k in range(n):
                row, flat = _step(lanes[4 * n + k], lanes[5 * n + k], np.int64(lanes[6 * n + k]), following,
                                  words, tables.shift)
                lanes[5 * n + k] = row
                lanes[6 * n + k] = np.uint64(flat)


@parallel_kernel
def stroke_counts(seed, stream, first, count, tables, cells, blocks):
    """Counts of trajectories ``first .. first + count - 1`` per histogram key (int64, ``cells``);
    ``blocks`` partial histograms filled in parallel and added (integers: thread-independent).  Each
    block samples LANES trajectories at a time (``_lanes``), its last count % LANES one by one."""
    partial = np.zeros((blocks, cells), dtype=np.int64)
    per_block = (count + blocks - 1) // blocks
    key = stream_key(seed, stream)
    words = tables.slots.reshape(-1)
    for b in numba.prange(blocks):
        start, stop = b * per_block, min(count, (b + 1) * per_block)
        lanes = np.empty(7 * LANES, dtype=np.uint64)
        t = start
        while t + LANES <= stop:
            _lanes(key, first + t, tables, words, lanes)
            for k in range(LANES):
                partial[b, np.int64(lanes[6 * LANES + k])] += 1
            t += LANES
        for t in range(t, stop):
            partial[b, _trajectory(key, first + t, tables, words)] += 1
    # the partial histograms added into the first, in parallel over cells (no further allocation)
    for c in numba.prange(cells):
        for b in range(1, blocks):
            partial[0, c] += partial[b, c]
    return partial[0]


@parallel_kernel
def stroke_keys(seed, stream, first, count, tables):
    """The histogram key of each trajectory ``first .. first + count - 1``."""
    out = np.empty(count, dtype=np.int64)
    key = stream_key(seed, stream)
    words = tables.slots.reshape(-1)
    for t in numba.prange(count):
        out[t] = _trajectory(key, first + t, tables, words)
    return out


@inline
def _trajectory_values(key, index, tables, values):
    """Trajectory ``index`` of the stream with key ``key``: writes its M float values into
    ``values`` (the same draws as ``_trajectory``)."""
    s0, s1, s2, s3 = keyed_state(key, index)
    slots, table = tables.slots, tables.values
    values[:] = 0.0
    row = np.int64(0)
    for r in range(tables.steps):
        x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
        i = row + np.int64(x >> tables.shift)
        pick = 0 if np.int64(x & _LOW53) < slots[i, 0] else 1
        values += table[i, pick]
        following = tables.shared[r]
        row = following if following >= 0 else ((slots[i, 1] >> (32 * pick)) & _LOW32)


@parallel_kernel
def stroke_moments(seed, stream, first, count, tables, block_size):
    """Per block of ``block_size`` consecutive trajectories (the last may be shorter), the float
    sums of x, x^2, e^{-x} and e^{-2x} of each of the M values, after the trajectory count:
    shape (blocks, 1 + 4 M), each block summed in trajectory order (thread-independent)."""
    m = tables.values.shape[2]
    blocks = (count + block_size - 1) // block_size
    out = np.zeros((blocks, 1 + 4 * m))
    key = stream_key(seed, stream)
    for b in numba.prange(blocks):
        values = np.empty(m)
        for t in range(b * block_size, min(count, (b + 1) * block_size)):
            _trajectory_values(key, first + t, tables, values)
            out[b, 0] += 1.0
            for k in range(m):
                e = np.exp(-values[k])
                out[b, 1 + k] += values[k]
                out[b, 1 + m + k] += values[k] * values[k]
                out[b, 1 + 2 * m + k] += e
                out[b, 1 + 3 * m + k] += e * e
    return out


@parallel_kernel
def stroke_values(seed, stream, first, count, tables):
    """The M float values of each trajectory ``first .. first + count - 1``, shape (count, M)."""
    m = tables.values.shape[2]
    out = np.empty((count, m))
    key = stream_key(seed, stream)
    for t in numba.prange(count):
        values = np.empty(m)
        _trajectory_values(key, first + t, tables, values)
        out[t] = values
    return out
