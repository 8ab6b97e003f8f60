"""One place for the Numba options shared by every kernel, and the guard of their disk cache.

Numba keys a cached kernel on its own source file's time stamp only (numba issue #1833): a kernel
that inlines a function of another module (``replay`` inlines ``lindblad.trajectory``, every kernel
inlines ``rng``) would keep the OLD code after that module changed -- silently wrong results after
an edit or a checkout.  The kernels are therefore cached as one unit: on import, a SHA-256 of every
cached kernel's source is compared with the one stored beside the cache, and on a change every
cached kernel of mcthermo is dropped (recompiled on first use, ~1 minute once).
"""
import hashlib
import os
from pathlib import Path

import numba
from numba.core import config

#: every module whose functions are compiled with ``cache=True``
CACHED_SOURCES = tuple(sorted(Path(__file__).parent.glob("*.py"))) + (
    Path(__file__).parents[1] / "exact" / "strokes_dp.py",)
#: the fingerprint file kept in each cache directory
STAMP = "mcthermo-kernels.sha256"


def _cache_directory(source: Path) -> Path:
    """Where Numba caches the kernels of ``source``: its __pycache__, or under NUMBA_CACHE_DIR."""
    if config.CACHE_DIR:
        from numba.core.caching import UserProvidedCacheLocator
        subpath = UserProvidedCacheLocator.get_suitable_cache_subpath(str(source))
        return Path(config.CACHE_DIR) / subpath
    return source.parent / "__pycache__"


def drop_stale_caches(sources=CACHED_SOURCES) -> bool:
    """Delete the cached kernels of ``sources`` unless they were built from these exact sources;
    returns True if anything was dropped.  A read-only installation is left alone (Numba cannot
    write its cache there either)."""
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    directories = sorted({_cache_directory(path) for path in sources})
    try:
        if all((d / STAMP).read_text() == digest for d in directories):
            return False
    except OSError:
        pass
    try:
        for path in sources:
            for cached in _cache_directory(path).glob(f"{path.stem}.*.nb[ic]"):
                cached.unlink(missing_ok=True)
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
            partial = directory / f"{STAMP}.{os.getpid()}"
            partial.write_text(digest)
            os.replace(partial, directory / STAMP)
    except OSError:
        return False
    return True


drop_stale_caches()

#: Scalar helpers inlined into the hot loops.
inline = numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
#: Serial kernels.
kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
#: Kernels parallel over trajectory blocks (``numba.prange``).
parallel_kernel = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
