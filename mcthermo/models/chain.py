"""Models sampled by the two-state chain kernel: the staircase and the Landau–Zener crossing.

The process itself (occupation paths of one level, kept or redrawn at each event, work on an
integer lattice) and its exact law are ``systems/two_state_chain.py``; a ``ChainModel`` compiles its
parameters into one ``TwoStateChain`` per direction and reads every observable off
(n_initial, n_final, work index).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numba
import numpy as np
import pandas as pd

from ..results import DISTRIBUTION_CHECKS, DirectionResults, Observable, Results
from ..stats import lattice_groups, log_group_sum
from ..model import MAX_MAGNITUDE, STREAMS, Model, require
from ..systems.two_state_chain import TwoStateChain


def require_magnitude(name: str, value: float, beta: float | None = None) -> None:
    """Refuse an energy ``value`` (or, with ``beta``, its Boltzmann exponent beta * value) whose
    observables would overflow the tables' moments: |value| and beta |value| <= MAX_MAGNITUDE."""
    require(abs(value) <= MAX_MAGNITUDE,
            f"{name} must lie in [-{MAX_MAGNITUDE:.0e}, {MAX_MAGNITUDE:.0e}] (got {value:g})")
    if beta is not None:
        require(beta * abs(value) <= MAX_MAGNITUDE,
                f"{name} must satisfy beta |{name}| <= {MAX_MAGNITUDE:.0e} (got beta = {beta:g}, "
                f"{name} = {value:g})")


def require_beta(beta: float) -> None:
    """Refuse an inverse temperature whose square (Crooks fits, beta^2 Var W) would overflow."""
    require(1.0 / MAX_MAGNITUDE <= beta <= MAX_MAGNITUDE,
            f"beta must lie in [{1.0 / MAX_MAGNITUDE:.0e}, {MAX_MAGNITUDE:.0e}] (got {beta:g})")


class ChainModel(Model):
    """A model sampled by the two-state chain kernel.  Subclasses give ``strokes(direction)`` (or
    their own ``chain(direction)``), ``observables(direction, n_initial, n_final, work)``, ``beta`` and ``free_energy_change()``."""

    #: observables with a variance and a full-distribution check (every observable gets a mean check)
    distribution_checks: tuple[str, ...] = ("work",)

    def strokes(self, direction: str = "forward"):
        """This protocol as an ``mt.Strokes`` (docs/observables.md, Stroke protocols)."""
        raise NotImplementedError

    def stroke_engine(self, direction: str = "forward"):
        """The stroke engine of ``strokes(direction)`` (``systems/stroke_engine.py``), once per
        direction."""
        engines = self.__dict__.setdefault("_stroke_engines", {})
        if direction not in engines:
            engines[direction] = self.strokes(direction).engine("forward")
        return engines[direction]

    def chain(self, direction: str = "forward") -> TwoStateChain:
        """The two-state chain that ``strokes(direction)`` compiles to, once per direction: one
        stroke engine serves every model (``systems/stroke_engine.py``)."""
        compiled = self.__dict__.setdefault("_compiled_chains", {})
        if direction not in compiled:
            two_state = self.stroke_engine(direction).two_state
            if two_state is None:
                raise ValueError(f"{self.name}: the protocol does not compile to a two-state chain "
                                 "(its work lattice would be too large: the rises are neither "
                                 "commensurate nor few distinct values)")
            compiled[direction] = two_state.chain
        return compiled[direction]

    def observables(self, direction, n_initial, n_final, work) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def observable_terms(self, observable: str, direction: str = "forward"):
        """Observable ``observable`` of ``observables`` as X = c W + start[n_initial] + end[n_final]
        on the stroke chain of ``direction``: (coefficients of its increments, start, end), read off
        ``observables`` at W = 0, 1, 2 and checked to be of that form (ValueError otherwise, or when
        the model has no such observable)."""
        n_initial = np.array([0, 0, 1, 1])[:, None]
        n_final = np.array([0, 1, 0, 1])[:, None]
        work = np.array([0.0, 1.0, 2.0])[None, :]
        values = self.observables(direction, n_initial, n_final, work)
        if observable not in values:
            raise ValueError(f"{self.name}: no observable {observable!r} (observables: {', '.join(values)})")
        x = np.broadcast_to(np.asarray(values[observable], dtype=np.float64), (4, 3))
        slope = x[0, 1] - x[0, 0]
        endpoint = x[:, 0]  # at (0, 0), (0, 1), (1, 0), (1, 1)
        start = np.array([0.0, endpoint[2] - endpoint[0]])
        end = endpoint[:2]
        scale = max(1.0, float(np.nanmax(np.abs(x), initial=0.0)))
        expected = (start[n_initial] + end[n_final] + slope * work)
        if not np.all(np.abs(x - expected) <= 1e-9 * scale):
            raise ValueError(f"{self.name}: {observable!r} is not additive over the steps "
                             "(no generating function from transfer matrices)")
        engine = self.stroke_engine(direction)
        coefficients = np.zeros(len(engine.chain.names))
        coefficients[engine.chain.names.index("work")] = slope
        return coefficients, start, end

    def log_generating_function(self, observable: str, s, direction: str = "forward"):
        """ln G_X(s) = ln<e^{-s X}> of the observable X = ``observable`` (a column of the tables, e.g.
        "work", "heat", "entropy_production") in ``direction``, exact: the tilted transfer matrices
        of the stroke protocol this model compiles to (``strokes(direction)``), backward in log
        space.  ``s``: a real scalar or 1-d array (the same shape out).  ValueError naming the
        observable when the model has no such observable."""
        # imported here: mcthermo.exact imports the models
        from ..exact.strokes_dp import log_generating_function

        if direction not in ("forward", "reverse"):
            raise ValueError(f"direction must be 'forward' or 'reverse' (got {direction!r})")
        return log_generating_function(self.stroke_engine(direction).chain, s,
                                       *self.observable_terms(observable, direction))

    def free_energy_change(self) -> float:
        raise NotImplementedError

    #: events x work-lattice points of the exact DP (~1e10: a few minutes per direction)
    max_dp_cells: float = 1e10

    def dp_size(self) -> tuple[int, int]:
        """(events, work-lattice points) of the forward chain, from the parameters alone: subclasses
        override it so that feasibility is known before any O(events) array exists."""
        chain = self.chain("forward")
        return chain.events, chain.lattice_size

    def steps_per_trajectory(self) -> float:
        return float(self.dp_size()[0] + 1)

    def check_tables_feasible(self) -> None:
        events, points = self.dp_size()
        cells = float(events) * float(points)
        if cells > self.max_dp_cells:
            raise ValueError(f"the exact tables need a dynamic programme over {events} events x "
                             f"{points} work values = {cells:.2g} cells (limit "
                             f"{self.max_dp_cells:.0e}, minutes); use fewer steps or levels")

    def accumulate(self, direction, seed, first, count):
        return {"counts": self.chain(direction).counts(seed, STREAMS[direction], first, count)}

    # --- tilted sampling (mcthermo/tilting.py) ---------------------------------------------
    def tilt_cells(self, direction: str):
        """(every observable's value per cell (n_initial, n_final, work index), exact ln P per cell)."""
        chain = self.chain(direction)
        grids = {name: np.ravel(grid) for name, grid in self._observable_grids(direction, chain).items()}
        return grids, np.ravel(chain.log_joint_pmf())

    def cell_counts(self, accumulator) -> np.ndarray:
        return np.ravel(accumulator["counts"])

    def tilted_chain(self, direction, observable, s) -> TwoStateChain:
        """The two-state chain of the Doob transform of the tilt e^{-s X}, X = ``observable``."""
        engine = self.stroke_engine(direction).tilted_by(self.observable_terms(observable, direction), s)
        return engine.two_state.chain

    def tilted_moments(self, observable, s, direction="forward") -> tuple[float, float]:
        """Exact mean and variance of ``observable`` under the tilted law P e^{-sX} / G(s)."""
        from ..exact.strokes_dp import tilted_moments

        return tilted_moments(self.stroke_engine(direction).chain, s, *self.observable_terms(observable, direction))

    def tilted_counts(self, direction, observable, s, seed, stream, first, count) -> np.ndarray:
        return np.ravel(self.tilted_chain(direction, observable, s).counts(seed, stream, first, count))

    def tilted_samples(self, direction, observable, s, seed, stream, first, count) -> pd.DataFrame:
        return self.samples(direction, seed, first, count, self.tilted_chain(direction, observable, s), stream)

    def samples(self, direction, seed, first, count, chain=None, stream=None):
        """Per-trajectory rows; ``chain`` and ``stream``: a tilted chain and its stream."""
        chain = self.chain(direction) if chain is None else chain
        stream = STREAMS[direction] if stream is None else stream
        n_initial, n_final, index = chain.paths(seed, stream, first, count)
        values = self.observables(direction, n_initial, n_final, chain.work_values[index])
        frame = pd.DataFrame({"trajectory": np.arange(first, first + count, dtype=np.int64),
                              "n_initial": n_initial, "n_final": n_final, "work_index": index})
        for name, column in values.items():
            frame[name] = np.broadcast_to(column, (count,))
        return frame

    def _observable_grids(self, direction, chain):
        n_initial = np.arange(2).reshape(2, 1, 1)
        n_final = np.arange(2).reshape(1, 2, 1)
        work = chain.work_values.reshape(1, 1, -1)
        grids = self.observables(direction, n_initial, n_final, work)
        shape = (2, 2, chain.lattice_size)
        return {name: np.broadcast_to(values, shape) for name, values in grids.items()}

    def results(self, accumulators) -> Results:
        """Per direction: every observable's counts on its exact atoms beside the exact law of the
        chain DP; Jarzynski against +-dF; BAR and Crooks when both directions were sampled."""
        directions = {}
        for direction, accumulator in accumulators.items():
            chain = self.chain(direction)
            counts = accumulator["counts"].ravel()
            exact = chain.log_joint_pmf()       # log space: atoms below 1e-308 survive
            observables = []
            for name, grid in self._observable_grids(direction, chain).items():
                values, inverse = lattice_groups(grid)
                observables.append(Observable(
                    name, values, np.bincount(inverse, counts, values.size).astype(np.int64),
                    log_probability_exact=log_group_sum(inverse, exact, values.size),
                    checks=DISTRIBUTION_CHECKS if name in self.distribution_checks else ("mean",)))
            sign = 1.0 if direction == "forward" else -1.0
            directions[direction] = DirectionResults(
                observables, jarzynski=(self.beta, sign * self.free_energy_change()))
        return Results(directions, bar_crooks=(self.beta, self.free_energy_change()))
