import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

#: the background process of ``warm_kernels.py`` (None: not started)
_warm_up = None
#: longest wait for it (seconds); then the waiting test compiles the kernel itself
WARM_UP_WAIT = 900


def pytest_collection_finish(session):
    """On a run of several test files, compile the jump kernels the suite reaches late in a
    background process (``warm_kernels.py``: on a cold cache ~4 minutes of one core that the first
    files leave idle; on a warm cache it only loads them).  The first test calling one of them
    waits for that process and loads the kernel from the cache, never compiling it a second time.
    MCTHERMO_TEST_WARMUP=0 turns it off."""
    global _warm_up
    if os.environ.get("MCTHERMO_TEST_WARMUP") == "0" or len({item.path for item in session.items}) < 2:
        return
    import numba
    if numba.config.DISABLE_JIT:
        return
    import mcthermo.kernels._jit  # the cache fingerprint is checked here first, not raced by the child
    root = str(Path(mcthermo.kernels._jit.__file__).parents[2])
    path = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    _warm_up = subprocess.Popen([sys.executable, str(Path(__file__).with_name("warm_kernels.py"))],
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from warm_kernels import KERNELS
    for kernel in KERNELS:
        cache = getattr(kernel, "_cache", None)     # Numba's disk cache of the kernel's overloads
        if cache is not None and hasattr(cache, "load_overload"):
            cache.load_overload = _after_warm_up(cache.load_overload)


def _after_warm_up(load_overload):
    """``load_overload`` (Numba's disk-cache lookup, made before any compilation) once the
    background process has finished."""
    def load(*args, **kwargs):
        try:
            _warm_up.wait(WARM_UP_WAIT)
        except subprocess.TimeoutExpired:
            pass
        return load_overload(*args, **kwargs)
    return load


def pytest_sessionfinish(session):
    if _warm_up is not None and _warm_up.poll() is None:   # a short or interrupted run
        _warm_up.terminate()
        _warm_up.wait()


@pytest.fixture
def staircase():
    from mcthermo import Staircase

    return Staircase(beta=1.0, gap_start=float(np.log(2.0)), gap_end=float(np.log(3.0)), steps=20)


@pytest.fixture
def staircase_work_counts():
    """(w, forward counts, reverse counts, dF): 50 000 forward and 40 000 reverse work values drawn
    (seed 3) from the exact laws of an 8-step staircase; the reverse works are -w."""
    from mcthermo import Staircase

    spec = Staircase(steps=8)
    rng = np.random.default_rng(3)
    w = spec.step * np.arange(9)
    forward = rng.multinomial(50_000, np.exp(spec.log_work_pmf()))
    reverse = rng.multinomial(40_000, np.exp(spec.reverse().log_work_pmf()))
    return w, forward, reverse, spec.free_energy_change()
