"""The thread count of the BLAS libraries behind numpy and scipy (the exact references' matrix
exponentials and products), so that ``workers=`` / ``--workers`` bounds them as it bounds the
Numba kernels.

OpenBLAS starts one thread per core and has no per-call setting; it exports
``openblas_set_num_threads`` (numpy's and scipy's wheels under the prefix ``scipy_`` and, for the
64-bit-integer build, the suffix ``64_``).  The loaded OpenBLAS libraries are found in the process's
memory map (Linux); elsewhere, or with another BLAS, this does nothing (set OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS before starting Python instead).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_")


@functools.lru_cache(maxsize=1)
def _libraries() -> tuple:
    """(get, set) function pairs of every OpenBLAS loaded in this process."""
    import numpy.linalg  # noqa: F401  (load the BLAS libraries first)
    import scipy.linalg  # noqa: F401

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return ()
    found = []
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                getter = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
                setter = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
                if getter is not None and setter is not None:
                    getter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
                    found.append((getter, setter))
                    break
            else:
                continue
            break
    return tuple(found)


def threads() -> list[int]:
    """The thread count of each OpenBLAS loaded (empty where none is found)."""
    return [int(get()) for get, _ in _libraries()]


@contextlib.contextmanager
def limited(count: int | None):
    """Within the block, every OpenBLAS uses at most ``count`` threads (None: unchanged)."""
    libraries = _libraries() if count is not None else ()
    previous = [get() for get, _ in libraries]
    for _, set_threads in libraries:
        set_threads(int(count))
    try:
        yield
    finally:
        for (_, set_threads), old in zip(libraries, previous):
            set_threads(old)
