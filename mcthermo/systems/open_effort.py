"""Memory and time of the exact references of an ``OpenSystem`` (``exact/tilted.py``), sized
before anything is allocated (``exact/effort.py``: limits, refusal, progress).

The references work on the d^2 x d^2 Lindblad generator (D = d^2): a generating function at F
counting fields costs F batched D x D exponentials per piece and holds every channel's jump
superoperator (D^2 complex numbers each); exact moments take one 3D x 3D exponential per piece and
observable; states one D x D exponential per output time.  The counts mirror what
``open_sampling.layout`` and ``open_results.results`` compute, with ``exact/tilted.py``'s batch.
"""
from __future__ import annotations

import numpy as np

from ..exact import tilted
from ..exact.effort import FLOP_RATE, Effort
from . import open_results
from .open_sampling import Layout

COMPLEX = 16  # bytes
#: matrix products per dense exponential (Taylor/Pade terms plus squarings), an upper estimate
PRODUCTS_PER_EXPONENTIAL = 30
#: seconds of Python and numpy overhead per piece each time a reference walks through the pieces
#: (building the generator, its jump terms, the exponential): what dominates for small d
PIECE_OVERHEAD = 0.01


def _exponentials(size: int, count: float) -> float:
    """Seconds of ``count`` exponentials of size x size complex matrices."""
    return count * PRODUCTS_PER_EXPONENTIAL * 8.0 * float(size) ** 3 / FLOP_RATE


def generating_function(system, fields: float, what: str, calls: int = 1) -> Effort:
    """``calls`` calls of ``tilted.transfer`` at ``fields`` counting fields in all (each call in
    batches of ``tilted.BATCH``)."""
    D = system.dimension**2
    pieces = len(system.pieces)
    channels = max(len(p.channels) for p in system.pieces)
    batch = min(fields / calls, tilted.BATCH)
    batches = calls * -(-fields // (calls * tilted.BATCH))
    memory = COMPLEX * D * D * (channels + 5 * batch)
    seconds = (_exponentials(D, fields * pieces)
               + 8.0 * D * D * channels * (fields + 2 * batches) * pieces / FLOP_RATE
               + PIECE_OVERHEAD * batches * pieces)
    return Effort(what, memory, seconds)


def moments(system, count: int, what: str) -> Effort:
    """``count`` calls of ``tilted.moments`` (block-Toeplitz exponentials of size 3D, twice: raw
    and about the mean)."""
    D = system.dimension**2
    calls = 2 * count * len(system.pieces)
    return Effort(what, COMPLEX * (3 * D) ** 2 * 8, _exponentials(3 * D, calls) + PIECE_OVERHEAD * calls)


def states(system, times: int, what: str) -> Effort:
    """``tilted.states_at`` at ``times`` output times."""
    D = system.dimension**2
    channels = max(len(p.channels) for p in system.pieces)
    exponentials = times + len(system.pieces)
    return Effort(what, COMPLEX * D * D * 8, _exponentials(D, exponentials)
                  + 8.0 * D * D * channels * len(system.pieces) / FLOP_RATE + PIECE_OVERHEAD * exponentials)


def sampling_effort(system) -> Effort:
    """What sampling needs before its first trajectory: the lattice widths of the heat histograms
    (Chernoff bounds from exact exponential moments, 8 per lattice bath; none with exact=False)
    and the final populations that define the entropy production."""
    effort = Effort("")
    if system.exact:  # as if every bath were on a lattice (finding the units is work of its own)
        calls = 8 * len(system.bath_names)
        effort += generating_function(system, calls, "heat lattice widths", calls)
    if system.measure_energy:
        effort += states(system, 1, "final populations")
    return effort


def results_effort(system, geometry: Layout) -> Effort:
    """What ``open_results.results`` computes after sampling."""
    if not system.exact:
        return Effort("")
    channels = len(system.channel_names)
    if open_results.count_laws_feasible(system, geometry):
        effort = generating_function(system, channels * (geometry.max_count + 1), "jump-count laws", channels)
    else:
        effort = moments(system, channels, "jump-count moments")
    if open_results.lattice_law_feasible(system, geometry):
        effort += generating_function(system, float(np.prod(geometry.joint_shape[2:])), "heat law")
    effort += moments(system, len(system.bath_names) + 3 * system.measure_energy, "heat and work moments")
    if system.measure_energy:
        effort += generating_function(system, 2, "fluctuation theorems", 2)
    if system.observables and len(system.output_times):
        effort += states(system, len(system.output_times), "expectation values")
    return effort
