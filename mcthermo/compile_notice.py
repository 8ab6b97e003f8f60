"""A one-line notice on stderr while Numba compiles a kernel.

The kernels are compiled on their first use on a machine (~10 s for some) and cached on disk
(``@njit(cache=True)``); later runs load them in well under a second.  Numba announces a compilation
with its "numba:compile" event only after its disk cache missed, so the notice appears exactly when
a compilation happens -- never for kernels loaded from the cache or already compiled in this process.
"""
from __future__ import annotations

import contextlib
import sys

from numba.core import event

NOTICE = "mcthermo: compiling (once; cached for later runs) …"


class _FirstCompilation(event.Listener):
    """Prints ``NOTICE`` at the first compilation it hears of."""

    def __init__(self):
        self.heard = False

    def on_start(self, ev):
        if not self.heard:
            self.heard = True
            print(NOTICE, file=sys.stderr, flush=True)

    def on_end(self, ev):
        pass


@contextlib.contextmanager
def compile_notice(enabled: bool = True):
    """Within the context, say ``NOTICE`` once on stderr if Numba compiles anything (``enabled``
    False: nothing is said, e.g. with --quiet)."""
    if not enabled:
        yield
        return
    with event.install_listener("numba:compile", _FirstCompilation()):
        yield
