"""Reproducibility check shared by the kernel tests: accumulators do not depend on chunks or threads."""
import numba
import numpy as np


def assert_independent_of_chunks_and_threads(accumulate, block=4096):
    """``accumulate(first, count)`` of 3 blocks equals the merge of 1 + 2 blocks (floats: per-block
    rows concatenated; integers: added) and the same call on one thread, bit for bit (NaN: unused
    exponent slots)."""
    whole = accumulate(0, 3 * block)
    parts = [accumulate(0, block), accumulate(block, 2 * block)]
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        serial = accumulate(0, 3 * block)
    finally:
        numba.set_num_threads(threads)
    for key, value in whole.items():
        merged = (np.concatenate([p[key] for p in parts]) if value.dtype.kind == "f"
                  else parts[0][key] + parts[1][key])
        assert (np.array_equal(value, merged, equal_nan=True)
                and np.array_equal(value, serial[key], equal_nan=True)), key
