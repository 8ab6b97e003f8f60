"""What an exact reference costs before it is computed, and the progress of the long ones.

Every exact reference (tilted Lindblad generators of an ``OpenSystem``, the stroke dynamic
programmes, the exact Landau–Zener propagation) is sized first: an ``Effort`` of memory (bytes)
and time (seconds, from a rate per thread of the operations it counts).  Beyond ``MAX_BYTES`` or
``MAX_SECONDS`` the run is refused in one line that names the size and the way out: the spec
option ``exact=False`` samples without exact references (histograms and sample moments; the check
rows say "no exact reference").  The estimates are upper bounds of the order of magnitude, not
promises; a computation that runs longer than ``QUIET_SECONDS`` reports its progress and expected
end on stderr, and Ctrl-C stops it between two of its steps (KeyboardInterrupt, nothing written).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from dataclasses import dataclass

GIB = 2**30


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16.0 * GIB


#: largest memory an exact reference may take: 8 GiB or half the machine's memory, the smaller
MAX_BYTES = min(8.0 * GIB, 0.5 * _physical_memory())
#: longest an exact reference may take (estimated, one thread)
MAX_SECONDS = 3600.0
#: dense complex linear algebra (matrix products, exponentials): real floating-point operations per
#: second and thread, a conservative rate for OpenBLAS/MKL on one core
FLOP_RATE = 4e9
#: element updates per second of the log-space dynamic programmes (numpy, one thread)
DP_RATE = 2e7
#: exact work shorter than this prints nothing
QUIET_SECONDS = 2.0

#: how to sample without exact references
WAY_OUT = ("pass exact=False to sample without them (histograms and sample moments; the check rows "
           "say 'no exact reference')")

#: whether long exact work reports progress on stderr (the runner turns it off with --quiet)
_REPORT = contextvars.ContextVar("mcthermo_exact_report", default=True)


def _size(nbytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", GIB), ("MiB", 2**20)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes / 1024:.3g} KiB"


def duration(seconds: float) -> str:
    """A duration in the largest unit that keeps it readable: '42 s', '3.5 min', '2.1 h', '4 d'."""
    if seconds < 120:
        return f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.2g} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.2g} h"
    return f"{seconds / 86400:.3g} d"


@dataclass(frozen=True)
class Effort:
    """Memory (bytes, the peak) and time (seconds) of an exact reference; ``what`` names it."""

    what: str
    memory: float = 0.0
    seconds: float = 0.0

    def __add__(self, other: "Effort") -> "Effort":
        """Two references computed one after the other: peak memory, added time."""
        what = other.what if not self.what else self.what if not other.what else f"{self.what}, {other.what}"
        return Effort(what, max(self.memory, other.memory), self.seconds + other.seconds)

    def problem(self, way_out: str = WAY_OUT) -> str | None:
        """Why this reference is refused (one line ending with ``way_out``), or None."""
        if self.memory <= MAX_BYTES and self.seconds <= MAX_SECONDS:
            return None
        return (f"the exact references ({self.what}) would need about {_size(self.memory)} of memory "
                f"and {duration(self.seconds)} (limits {_size(MAX_BYTES)}, {duration(MAX_SECONDS)}); "
                f"{way_out}")

    def require(self, way_out: str = WAY_OUT) -> None:
        """Raise ValueError (one line) when the reference is beyond the limits."""
        problem = self.problem(way_out)
        if problem is not None:
            raise ValueError(problem)


@contextlib.contextmanager
def reporting(enabled: bool):
    """Within the block, long exact work reports progress only if ``enabled``."""
    token = _REPORT.set(bool(enabled))
    try:
        yield
    finally:
        _REPORT.reset(token)


class Progress:
    """Progress of one exact computation of ``total`` steps (any unit that grows evenly in time).

    When the cost per step is not even, ``left`` (a callable, asked only when a line is printed)
    gives the work still to do in the units ``advance`` counts: the fraction is done / (done +
    left) and the expected end extrapolates the time per unit of work, not per step.
    Silent for its first ``QUIET_SECONDS``; then, on a terminal, a line rewritten in place
    (fraction, elapsed, expected end), elsewhere (a log) one line when it becomes long and one
    when it ends.  ``with Progress(...) as progress: ... progress.advance(k)``.
    """

    def __init__(self, label: str, total: float, left=None):
        self.label, self.total = label, max(float(total), 1e-300)
        self.left = left
        self.done, self.start = 0.0, time.perf_counter()
        self.enabled = _REPORT.get()
        self.terminal = sys.stderr.isatty()
        self.shown = False
        self.last = 0.0

    def __enter__(self):
        return self

    def advance(self, amount: float = 1.0) -> None:
        self.done += amount
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < QUIET_SECONDS or (self.shown and not self.terminal) or now - self.last < 0.5:
            return
        self.last = now
        fraction = self.fraction()
        left = elapsed * (1.0 - fraction) / fraction if fraction > 0 else float("inf")
        line = (f"mcthermo: exact {self.label}: {100 * fraction:.0f}% after {duration(elapsed)}, "
                f"about {duration(left)} to go (Ctrl-C stops; exact=False skips it)")
        sys.stderr.write(f"\r{line}  " if self.terminal else f"{line}\n")
        sys.stderr.flush()
        self.shown = True

    def fraction(self) -> float:
        """Share of the work done: done / total, or done / (done + left()) with a work model."""
        if self.left is None:
            return min(self.done / self.total, 1.0)
        whole = self.done + max(float(self.left()), 0.0)
        return min(self.done / whole, 1.0) if whole > 0 else 0.0

    def close(self) -> None:
        self.__exit__(None, None, None)

    def __exit__(self, kind, value, traceback):
        if self.enabled and self.shown:
            elapsed = duration(time.perf_counter() - self.start)
            ending = "done" if kind is None else "stopped"
            sys.stderr.write(("\r" if self.terminal else "")
                             + f"mcthermo: exact {self.label}: {ending} after {elapsed}\n")
            sys.stderr.flush()
        return False
