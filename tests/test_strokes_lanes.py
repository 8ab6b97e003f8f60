"""The lane-interleaved stroke kernel (``stroke_counts``) against a plain reference: the one-trajectory
loop of the kernel as it was before the lanes (kept here verbatim), whose keys are histogrammed with
np.bincount.  Counts must be bit-identical for every split of the trajectories into calls, blocks and
lanes (partial lane groups, scalar tails) and every thread count; keys (``stroke_keys``) identical
trajectory by trajectory."""
import numba
import numpy as np
import pytest

import mcthermo as mt
from mcthermo.kernels.rng import keyed_state, next_uint64, stream_key
from mcthermo.kernels.strokes import LANES, stroke_counts, stroke_keys
from mcthermo.systems.bath import Bath

from test_strokes import random_unitary_transitions, three_level

_LOW53 = np.uint64((1 << 53) - 1)
_LOW32 = np.int64((1 << 32) - 1)


@numba.njit(cache=True)
def reference_keys(seed, stream, first, count, slots, shift, steps, shared):
    """The kernel's ``_trajectory`` before the lanes, one trajectory after the other (2-d slots)."""
    out = np.empty(count, dtype=np.int64)
    key = stream_key(seed, stream)
    for t in range(count):
        s0, s1, s2, s3 = keyed_state(key, first + t)
        row = np.int64(0)
        flat = np.int64(0)
        for r in range(steps):
            x, s0, s1, s2, s3 = next_uint64(s0, s1, s2, s3)
            i = row + np.int64(x >> shift)
            own = np.int64(x & _LOW53) < slots[i, 0]
            flat += slots[i, 2] if own else slots[i, 3]
            following = shared[r]
            rows = slots[i, 1]
            row = following if following >= 0 else ((rows & _LOW32) if own else (rows >> 32))
        out[t] = flat
    return out


def ladder_otto(d=8, cycles=3):
    """d levels, two baths (joint (W, Q_hot) box), random unitary expansion, partial hot bath."""
    rng = np.random.default_rng(1)
    n = np.arange(d)
    return mt.Strokes(energies=n * 1.0, baths={"hot": Bath(beta=0.3), "cold": Bath(beta=1.5)}, initial="cold",
                      strokes=[mt.Quench(n * 2.0, random_unitary_transitions(rng, d)), mt.Thermalize("hot", 0.7),
                               mt.Quench(n * 1.0), mt.Thermalize("cold")], cycles=cycles)


def ladder_staircase(d=5, steps=6):
    """Adiabatic quenches each followed by a full thermalisation: every step's next row is shared."""
    n = np.arange(d)
    strokes = []
    for k in range(1, steps + 1):
        strokes += [mt.Quench(n * (1.0 + k / steps)), mt.Thermalize("bath")]
    return mt.Strokes(energies=n * 1.0, baths={"bath": Bath(beta=0.7)}, initial="bath", strokes=strokes)


CASES = {"d=3 random-unitary quenches, two baths": lambda: three_level(np.random.default_rng(5)),
         "d=8 ladder Otto, two baths": ladder_otto,
         "d=5 ladder staircase (shared rows)": ladder_staircase}


@pytest.mark.parametrize("case", list(CASES))
def test_lane_kernel_counts_equal_the_reference_histogram(case):
    engine = CASES[case]().engine("forward")
    tables, cells = engine.tables, int(np.prod(engine.shape))
    if case.startswith("d=5"):
        assert np.all(tables.shared >= 0)
    else:
        assert np.any(tables.shared < 0) and np.any(tables.shared >= 0)
    seed, stream, total = 12345, 1, 20_000
    keys = reference_keys(seed, stream, 0, total, tables.slots, tables.shift, tables.steps, tables.shared)
    assert np.array_equal(stroke_keys(seed, stream, 0, total, tables), keys)
    threads = numba.get_num_threads()
    try:
        for n_threads in sorted({1, threads}):
            numba.set_num_threads(n_threads)
            for first, count, blocks in [(0, total, 1), (0, total, 2), (0, total, 7), (3, LANES - 1, 1),
                                         (17, 3 * LANES + 5, 2), (1001, 9_999, 3), (0, 0, 1)]:
                expected = np.bincount(keys[first:first + count], minlength=cells)
                counts = stroke_counts(seed, stream, first, count, tables, cells, blocks)
                assert counts.dtype == np.int64 and np.array_equal(counts, expected), (n_threads, first, count, blocks)
    finally:
        numba.set_num_threads(threads)
    # another seed and stream, through the engine (its own blocking)
    keys = reference_keys(7, 2, 500, 5_000, tables.slots, tables.shift, tables.steps, tables.shared)
    assert np.array_equal(engine.counts(7, 2, 500, 5_000).ravel(), np.bincount(keys, minlength=cells))


def test_a_wrong_key_is_caught_by_the_comparison():
    """The comparison is sharp: one trajectory's key moved to another cell breaks the equality."""
    engine = ladder_otto().engine("forward")
    tables, cells = engine.tables, int(np.prod(engine.shape))
    keys = reference_keys(3, 1, 0, 1000, tables.slots, tables.shift, tables.steps, tables.shared)
    counts = stroke_counts(3, 1, 0, 1000, tables, cells, 2)
    keys[0] = (keys[0] + 1) % cells
    assert not np.array_equal(counts, np.bincount(keys, minlength=cells))
