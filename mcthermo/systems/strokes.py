"""User-defined stroke protocols on d levels as a model: ``mt.Strokes``, ``mt.Quench``,
``mt.Thermalize`` (docs/observables.md, Stroke protocols; the process and its inputs: ``stroke_protocol.py``).

Observables per direction: ``work``, ``heat_<bath>``, ``entropy_production`` (docs/observables.md, Conventions; reference
final distribution = the final populations) and, for two baths (hot = the bath of smaller beta),
``efficiency`` -- the stochastic efficiency -W / Q_hot, an observable conditioned on Q_hot != 0:
histogram, summary (``trajectories`` = the number with Q_hot != 0, ``condition`` = "heat_hot != 0")
and checks against its exact law conditioned on Q_hot != 0, given that number -- and
``efficiency_undefined`` (1 where Q_hot = 0: its mean is the fraction where eta is undefined).
Checks: mean, variance and distribution against the exact laws, the integral fluctuation theorem
against the exact ln<e^{-sigma}>, Jarzynski (and Crooks / BAR with ``reverse=True``) when the
protocol starts in the Gibbs state of its only bath.  Extra table: ``work_heat``, the joint
histogram of work and the hot bath's heat.

The reverse direction runs the strokes backwards (each quench undone with T^T) from the Gibbs state
at the final energies (Gibbs-bath protocols) or from the final populations (all others).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from ..model import STREAMS, Model
from ..results import Results
from ..exact.strokes_dp import key_space, tilted_moments
from .stroke_engine import KEY_BATCH, StrokeEngine, zero_heat
from .stroke_moments import BLOCK_SIZE, moment_samples
from .stroke_protocol import Quench, StrokeProtocol, Thermalize

__all__ = ["Quench", "Strokes", "Thermalize"]

#: largest histogram key a keyed tilted run holds exactly in its float64 accumulator rows
MAX_FLOAT_KEY = 1 << 53


@dataclass(frozen=True, eq=False)
class Strokes(StrokeProtocol, Model):
    """A protocol of quenches (work) and thermalisations (heat) on d levels, repeated ``cycles`` times.

    energies: the d level energies at the start (hbar = k_B = 1, energy units);
    baths: {name: mt.Bath(beta=..., mu=...)} (beta = inf allowed: zero temperature);
    initial: a bath name (its Gibbs state at the start) or the d level populations;
    strokes: a list of ``mt.Quench(energies, transitions=None)`` -- the levels jump to ``energies``,
      each level kept (adiabatic) or moved by a doubly stochastic T[s, s'] = |U_{s's}|^2 -- and
      ``mt.Thermalize(bath, strength=1.0)`` -- the level redrawn from the bath's Gibbs state with
      probability ``strength``;
    particles: optional integer particle number of each level (grand-canonical baths);
    cycles: repetitions of ``strokes`` (default 1);
    energy_unit: optional lattice quantum of work and heat (default: found from the energies).

        otto = mt.Strokes(energies=[0, 1], baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2)},
                          initial="cold", strokes=[mt.Quench([0, 2]), mt.Thermalize("hot"),
                                                   mt.Quench([0, 1]), mt.Thermalize("cold")], cycles=5)
        run = mt.sample(otto, trajectories=10**5, seed=1)

    Per direction it samples ``work``, ``heat_<bath>``, ``entropy_production`` (when no bath is at
    zero temperature) and, with two baths, the efficiency -W / Q_hot (conditioned on Q_hot != 0);
    checks: mean, variance and distribution against the exact laws, the integral fluctuation
    theorem, Jarzynski (and Crooks / BAR with ``reverse=True``) from the Gibbs state of the one bath
    it touches.  On the command line: write it in a file, run ``mcthermo sample FILE.py:NAME``.
    """

    name: ClassVar[str] = "strokes"
    block_size: ClassVar[int] = BLOCK_SIZE
    extra_tables: ClassVar[tuple[str, ...]] = ("work_heat",)
    #: how to sample one from the command line (shown by ``mcthermo sample strokes``)
    command_line_example: ClassVar[str] = (
        "# otto.py\n"
        "import mcthermo as mt\n"
        "otto = mt.Strokes(energies=[0, 1], baths={\"hot\": mt.Bath(beta=0.5), \"cold\": mt.Bath(beta=2)}, "
        "initial=\"cold\",\n"
        "                  strokes=[mt.Quench([0, 2]), mt.Thermalize(\"hot\"), mt.Quench([0, 1]), "
        "mt.Thermalize(\"cold\")], cycles=5)\n"
        "then: mcthermo sample otto.py:otto --trajectories 1e5 --seed 1")

    def __post_init__(self):
        super().__post_init__()
        self.engine("forward")  # checks a declared energy_unit against the increments

    def reverse(self) -> "Strokes":
        """The time-reversed protocol (see the module docstring)."""
        return Strokes(**self.reversed_protocol())

    @cached_property
    def _engines(self) -> dict:
        return {"forward": StrokeEngine(self)}

    def engine(self, direction: str) -> StrokeEngine:
        if direction not in self._engines:
            self._engines[direction] = StrokeEngine(self.reverse())
        return self._engines[direction]

    def steps_per_trajectory(self) -> float:
        return self.engine("forward").steps_per_trajectory()

    def log_generating_function(self, observable: str, s, direction: str = "forward"):
        """ln G_X(s) = ln<e^{-s X}> of the trajectory observable X = ``observable`` ("work",
        "heat_<bath>", "entropy_production") in ``direction`` ("forward" or "reverse"), exact: the
        backward recursion of the tilted transfer matrices P_n(x, y) e^{-s x_n(x, y)} in log space
        (no underflow or overflow, no lattice, no DFT).  ``s``: a real scalar or 1-d array (the same
        shape out).  ValueError naming the observable when this protocol has no such observable."""
        if direction not in ("forward", "reverse"):
            raise ValueError(f"direction must be 'forward' or 'reverse' (got {direction!r})")
        return self.engine(direction).log_generating_function(observable, s)

    # --- tilted sampling (mcthermo/tilting.py) ---------------------------------------------
    def tilt_keyed(self, direction: str) -> bool:
        """Whether tilted runs count keys (``tilted_keys``) rather than a histogram: when the
        histogram box is too large to hold (moment-only sampling of the plain protocol)."""
        engine = self.engine(direction)
        if engine.mode != "moments":
            return False
        if key_space(engine.chain, engine.box) > MAX_FLOAT_KEY:
            raise ValueError(f"tilted sampling needs histogram keys below 2**53 (this protocol has "
                             f"{key_space(engine.chain, engine.box):.3g})")
        return True

    def tilt_cells(self, direction: str, keys=None):
        """(every observable's value per histogram cell, exact ln P per cell or None): the cells on
        which tilted ensembles are counted and reweighted (``keys``: the sampled keys of a keyed
        protocol, ``tilt_keyed``; no exact law there)."""
        engine = self.engine(direction)
        if keys is not None:
            return engine.cell_values(keys), None
        return engine.cell_values(engine.cells()), engine.log_cell_law

    def tilted_keys(self, direction, observable, s, seed, stream, first, count) -> np.ndarray:
        """(distinct histogram keys, their counts) as float64 rows (m, 2) of trajectories first ..
        first + count - 1, plain (``observable`` None) or of the tilted law; float rows merge by
        concatenation (keys < 2**53 are exact), then are summed per key."""
        engine = self.engine(direction)
        if observable is not None:
            engine = engine.tilted(observable, s)
        parts = []
        for start in range(0, count, KEY_BATCH):
            parts.append(engine.keys(seed, stream, first + start, min(KEY_BATCH, count - start)))
        keys, tally = np.unique(np.concatenate(parts) if parts else np.zeros(0, np.int64), return_counts=True)
        return np.column_stack([keys, tally]).astype(np.float64)

    def tilted_moments(self, observable, s, direction="forward") -> tuple[float, float]:
        """Exact mean and variance of ``observable`` under the tilted law P e^{-sX} / G(s) (forward
        recursion of the tilted transfer matrices; ``exact/strokes_dp.tilted_moments``)."""
        engine = self.engine(direction)
        return tilted_moments(engine.chain, s, *engine.observable_terms(observable))

    def cell_counts(self, accumulator) -> np.ndarray:
        """The plain accumulator's int64 counts per cell of ``tilt_cells``."""
        return np.ravel(accumulator["counts"])

    def tilted_counts(self, direction, observable, s, seed, stream, first, count) -> np.ndarray:
        """Counts per cell of trajectories first .. first + count - 1 of the tilted law
        P e^{-s X} / G(s) of ``observable``, drawn from its Doob transform on stream ``stream``."""
        tilted = self.engine(direction).tilted(observable, s)
        return np.ravel(tilted.accumulate(seed, stream, first, count)["counts"])

    def tilted_samples(self, direction, observable, s, seed, stream, first, count) -> pd.DataFrame:
        """Per-trajectory rows of the same tilted trajectories (``samples`` columns)."""
        return self.samples(direction, seed, first, count, self.engine(direction).tilted(observable, s), stream)

    @classmethod
    def table_parameters(cls, parameters: dict) -> dict:
        """levels, cycles, energy_unit and initial (a bath name or "populations"); the protocol
        itself: run.json, by system_id."""
        initial = parameters["initial"]
        return {"levels": len(parameters["energies"]), "cycles": parameters["cycles"],
                "energy_unit": parameters["energy_unit"],
                "initial": initial if isinstance(initial, str) else "populations"}

    def prepare(self, direction: str) -> None:
        """Size the exact law of ``direction`` before computing it (refused in one line naming its
        size and ``exact=False`` beyond the limits of ``exact/effort.py``), then decide its sampling
        mode, which computes a sparse law: before the first chunk, where Ctrl-C stops it at once."""
        engine = self.engine(direction)
        engine.exact_effort().require()
        engine.mode

    def exact_tables(self) -> str:
        """What the exact references of this protocol are: "law" (on the whole lattice box),
        "law on the support" (sparse), or why only moments exist."""
        engine = self.engine("forward")
        reason = engine.why_no_law()
        if reason is not None:
            return f"moments only: {reason}"
        return "law" if engine.mode == "law" else "law on the support"

    def accumulate(self, direction, seed, first, count):
        return self.engine(direction).accumulate(seed, STREAMS[direction], first, count)

    def samples(self, direction, seed, first, count, engine=None, stream=None):
        """Per-trajectory rows; ``engine`` and ``stream``: a tilted engine and its stream."""
        engine = self.engine(direction) if engine is None else engine
        stream = STREAMS[direction] if stream is None else stream
        frame = pd.DataFrame({"trajectory": np.arange(first, first + count, dtype=np.int64)})
        if engine.mode == "moments":
            values = moment_samples(engine, seed, stream, first, count)
        else:
            keys = engine.keys(seed, stream, first, count)
            index = np.unravel_index(keys, engine.shape)
            frame["level_initial"], frame["level_final"] = index[0], index[1]
            values = engine.cell_values(keys)
        for name, column in values.items():
            frame[name] = column
        if len(self.baths) == 2:  # eta = -W / Q_hot, NaN where Q_hot = 0 (undefined)
            heat = frame[f"heat_{engine.hot}"].to_numpy()
            undefined = zero_heat(heat)
            frame["efficiency"] = np.where(undefined, np.nan, -frame["work"].to_numpy() / np.where(undefined, 1.0, heat))
        return frame

    def results(self, accumulators) -> Results:
        directions, tables = {}, {}
        for direction, accumulator in accumulators.items():
            directions[direction], extra = self.engine(direction).direction_results(accumulator)
            for name, table in extra.items():
                tables.setdefault(name, []).append(table.assign(direction=direction))
        bar_crooks = None
        if "reverse" in directions:
            gibbs = self.gibbs_bath()
            if not gibbs:
                bar_crooks = ("Crooks and BAR need a protocol that starts in the Gibbs state of the one "
                              "bath it touches (the reverse direction is checked on its own)")
            elif self.baths[gibbs].zero_temperature:
                bar_crooks = f"Crooks and BAR need a finite beta (bath {gibbs!r} is at zero temperature)"
            elif not all("counts" in accumulator for accumulator in accumulators.values()):
                bar_crooks = "Crooks and BAR need the work histograms (moment-only sampling)"
            else:
                bar_crooks = (self.baths[gibbs].beta, self.free_energy_change())
        return Results(directions, bar_crooks=bar_crooks,
                       extra_tables={name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()})
