"""Sampling and exact tables of one direction of a stroke protocol.

The sampled histogram is the integer count of trajectories per (initial level, final level,
tracked lattice indices).  Tracked: the work, and the heat of every bath but one -- the coldest
bath's heat follows from the first law E_j - E_i = W + sum_b (Q_b + mu_b N_b) when no particles
are exchanged, or when there is one bath (N_b = N_j - N_i).  With two baths the box is the joint
(W, Q_hot) histogram, so the stochastic efficiency -W / Q_hot and its histogram follow exactly.

Two-level protocols with one bath and adiabatic quenches run on the two-state lanes kernel
(``systems/two_state_chain.py``); every other protocol on the alias-table kernel (``kernels/strokes.py``).

Modes (``StrokeEngine.mode``): "law" -- the histogram over the whole box and its exact law;
"sparse" -- the box is too large (incommensurate energies give one axis per energy quantum, mostly
empty) but the paths reach few of its cells: the histogram and the exact law on the support only
(``exact/strokes_dp.py::log_sparse_pmf``); "histogram" -- neither DP is feasible: the histogram
with exact means and variances (transfer matrices) and the exact ln<e^{-sigma}>; "moments" -- the
histogram itself would be too large: moment-only sampling (``stroke_moments.py``).  The exact
moments and exponential averages are always there.
"""
from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
from scipy.special import expit, logsumexp

from ..exact.effort import DP_RATE, Effort
from ..exact.strokes_dp import (doob_chain, key_space, lattice, log_generating_function, log_joint_pmf, log_sparse_pmf,
                                log_tilted_average, sparse_updates, transfer_moments)
from ..kernels.strokes import random_step_count, stroke_counts, stroke_keys, stroke_tables
from .two_state_chain import TwoStateChain
from ..results import DirectionResults, EngineEfficiency, Observable
from ..stats import lattice_groups, log_group_sum, zero_within_round_off
from .stroke_moments import moment_accumulate, moment_results, moment_tables
from .stroke_protocol import Quench

#: largest sampled histogram (initial level x final level x lattice box), int64 cells
MAX_HISTOGRAM_CELLS = 1 << 22
#: largest exact dynamic programme (transitions x histogram cells), log-space operations
MAX_DP_OPERATIONS = 2e9
#: most reachable (initial level, level, lattice index) states of the sparse exact DP, hence most
#: cells of a sparse histogram
MAX_SUPPORT = 1 << 20
#: histogram keys are int64 sums of int64 increments in the kernel
MAX_KEYS = 1 << 62
#: trajectories whose keys are sorted at once when counting on a sparse support (8 MiB of keys)
KEY_BATCH = 1 << 20
#: largest mixed-radix work lattice of a protocol compiled to the two-state chain (beyond it: the
#: alias kernel)
MAX_TWO_STATE_LATTICE = 1 << 16
#: the reason of the check rows of a protocol with ``exact=False``
NO_EXACT = "no exact reference (exact=False)"


class TwoStateCompilation(NamedTuple):
    """A two-level protocol as a two-state chain: ``box_index[m]`` is the flat index, in the
    engine's lattice box, of the chain's work index m (-1 where no reachable path has it); distinct
    m can share a cell (the mixed-radix lattice of gains of both signs)."""

    chain: TwoStateChain
    box_index: np.ndarray


class StrokeEngine:
    """Sampler and exact tables of a ``StrokeProtocol`` (one direction)."""

    def __init__(self, protocol, chain=None):
        self.protocol = protocol
        #: the chain sampled: the protocol's, or its Doob transform (``tilted``)
        self.chain = protocol.chain if chain is None else chain
        self.baths = list(protocol.baths)
        n = protocol.level_particles
        exchange = np.any(n != n[0])
        coldest = max(self.baths, key=lambda b: protocol.baths[b].beta) if self.baths else None
        self.derived = coldest if self.baths and (len(self.baths) == 1 or not exchange) else None
        self.hot = min(self.baths, key=lambda b: protocol.baths[b].beta) if self.baths else None
        #: particle counters particles_<bath> of a protocol with two or more particle-exchanging
        #: baths; the last follows from N_final - N_initial, the others are tracked
        self.counters = list(protocol.particle_baths)
        self.tracked = ([0] + [1 + i for i, b in enumerate(self.baths) if b != self.derived]
                        + [1 + len(self.baths) + i for i in range(len(self.counters) - 1)])
        # the lattice quanta of the tracked observables: the declared energy_unit (ValueError if an
        # increment is off it), else one per class of commensurate increments
        self.box  # the lattice (ValueError here for a declared energy_unit that does not fit)

    def tilted(self, name: str, s: float) -> "StrokeEngine":
        """The engine of the tilted law Q(path) = P(path) e^{-s X} / G(s) of observable ``name``."""
        return self.tilted_by(self.observable_terms(name), s)

    def tilted_by(self, terms, s: float) -> "StrokeEngine":
        """The engine sampling the finite-time Doob transform (``exact/strokes_dp.doob_chain``) of
        the tilt e^{-s X}, X given as ``terms`` (``observable_terms``): the same lattice box and
        histogram keys, other transition probabilities, hence other kernel tables -- the same
        kernels sample it; its ``log_g`` is ln G(s)."""
        cache = self.__dict__.setdefault("_tilted", {})
        key = (float(s), tuple(None if t is None else np.asarray(t, dtype=np.float64).tobytes() for t in terms))
        if key not in cache:
            chain, log_g = doob_chain(self.chain, s, *terms)
            engine = StrokeEngine.__new__(StrokeEngine)
            engine.__dict__.update({k: v for k, v in self.__dict__.items()
                                    if k in ("protocol", "baths", "derived", "hot", "counters", "tracked", "box")})
            engine.chain, engine.log_g, engine.plain = chain, log_g, self
            if self.support is None:  # same reachable states: no sparse support either (not recomputed)
                engine.__dict__["support"] = None
            cache[key] = engine
        return cache[key]

    # --- feasibility ------------------------------------------------------------------------
    @cached_property
    def box(self):
        return lattice(self.chain, self.tracked, self.protocol.energy_unit)

    @property
    def shape(self) -> tuple[int, ...]:
        d = self.chain.levels
        return (d, d, *(int(s) for s in self.box.size))

    def axes_description(self) -> str:
        box = self.box
        return ", ".join(f"{self.chain.names[self.tracked[p]]} / {u:.6g}" for p, u in zip(box.owner, box.unit))

    @property
    def mode(self) -> str:
        """"law", "sparse", "histogram" or "moments" (see the module docstring); without exact
        references (``exact=False``) "histogram" or "moments"."""
        if not self.protocol.exact:
            return "moments" if self.infeasible_histogram() else "histogram"
        if self.infeasible_law() is None:
            return "law"
        if self.support is not None:
            return "sparse"
        return "moments" if self.infeasible_histogram() else "histogram"

    @cached_property
    def support(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(sorted histogram keys, their exact ln P) when the dense law is infeasible but the sparse
        DP is (at most MAX_SUPPORT reachable states, keys within int64); else None."""
        if (not self.protocol.exact or self.infeasible_law() is None
                or key_space(self.chain, self.box) > MAX_KEYS):
            return None
        return log_sparse_pmf(self.chain, self.box, MAX_SUPPORT)

    def exact_effort(self) -> Effort:
        """Memory and time of the exact law this direction would compute (``exact/effort.py``):
        the dense dynamic programme (log-space element updates over every histogram cell) or, where
        it is infeasible, the sparse one (at most MAX_SUPPORT states per step)."""
        if not self.protocol.exact:
            return Effort("")
        cells = float(np.prod(self.shape, dtype=np.float64))
        if self.infeasible_law() is None:
            updates = float(self.chain.possible().sum()) * cells / self.chain.levels
            return Effort("exact law of the strokes", 3 * 8 * cells, updates / DP_RATE)
        if key_space(self.chain, self.box) > MAX_KEYS:
            return Effort("")
        updates = sparse_updates(self.chain, self.box, MAX_SUPPORT)
        return Effort("exact law of the strokes on its support", 8 * 8 * MAX_SUPPORT, updates / DP_RATE)

    def why_no_law(self) -> str | None:
        """Why there is no exact law (dense nor sparse), or None."""
        if not self.protocol.exact:
            return NO_EXACT
        if self.mode in ("law", "sparse"):
            return None
        reason = self.infeasible_law()
        if key_space(self.chain, self.box) > MAX_KEYS:
            return f"{reason}, and its keys would exceed 2**62"
        return f"{reason}, and its paths reach more than {MAX_SUPPORT} (level, lattice) states"

    def infeasible_histogram(self) -> str | None:
        """Why the histogram cannot be held, or None."""
        cells = float(np.prod(self.shape, dtype=np.float64))
        if cells > MAX_HISTOGRAM_CELLS:
            return (f"the histogram of (initial level, final level, {self.axes_description()}) would "
                    f"need {cells:.3g} cells (limit {MAX_HISTOGRAM_CELLS})")
        return None

    def infeasible_law(self) -> str | None:
        """Why the exact law cannot be computed, or None."""
        operations = float(self.chain.possible().sum()) * float(np.prod(self.shape, dtype=np.float64))
        if operations > MAX_DP_OPERATIONS:
            return (f"the exact law would need a dynamic programme of {operations:.3g} operations "
                    f"(limit {MAX_DP_OPERATIONS:.0e})")
        return self.infeasible_histogram()

    # --- sampling ---------------------------------------------------------------------------
    @cached_property
    def tables(self):
        d, box = self.chain.levels, self.box
        return stroke_tables(self.chain.log_initial, self.chain.log_transition, box.flat_steps(),
                             box.flat_origin() + d * box.cells * np.arange(d), box.cells * np.arange(d))

    @cached_property
    def moment_tables(self):
        return moment_tables(self)

    @cached_property
    def two_state(self) -> TwoStateCompilation | None:
        """The protocol as a two-state chain (``systems/two_state_chain.py``) when it is one: two levels, one
        bath, adiabatic quenches, work the only tracked observable -- else None.

        The chain's occupation n is that of level 1.  Each quench moves both levels along the work
        axes of the box; between two thermalisations the moves add up, and the work index of the
        box is base + sum_e n_e gain_e (gain_e = level 1's move minus level 0's, base = level 0's
        total).  The chain counts this on one integer lattice: on one axis with gains of one sign,
        m = sum_e n_e |gain_e| (the work is base + sign m quanta); otherwise mixed-radix over the
        distinct gain vectors g (m_g events each), m = sum_g k_g prod_{h<g} (m_h + 1), which is exact
        for incommensurate rises (e.g. Landau-Zener crossings at irrational level spacings)."""
        protocol, box = self.protocol, self.box
        if self.chain.levels != 2 or np.any(box.owner != 0):
            return None
        if "plain" in self.__dict__:  # a Doob transform: the plain lattice, the tilted draws
            plain = self.plain.two_state
            return None if plain is None else TwoStateCompilation(
                _two_state_of(self.chain, plain.chain,
                              [n for n, stroke in enumerate(protocol.expanded()) if not isinstance(stroke, Quench)]),
                plain.box_index)
        diagonal = box.steps[:, :, [0, 1], [0, 1]]  # (axes, steps, level): each level's move
        moves, keep, log_odds = [np.zeros((box.unit.size, 2), np.int64)], [], []
        n, path = protocol.level_particles, protocol.energy_path()
        for step, stroke in enumerate(protocol.expanded()):
            if isinstance(stroke, Quench):
                if stroke.transitions is not None and not np.array_equal(stroke.transitions, np.eye(2)):
                    return None
                moves[-1] = moves[-1] + diagonal[:, step]
            else:
                keep.append(1.0 - stroke.strength)
                log_odds.append(_log_odds(protocol.baths[stroke.bath], path[step], n))
                moves.append(np.zeros((box.unit.size, 2), np.int64))
        moves = np.array(moves)
        gain, base = moves[:, :, 1] - moves[:, :, 0], moves[:, :, 0].sum(axis=0)
        lattice = _work_lattice(gain)
        if lattice is None:
            return None
        weights, position = lattice  # position: (lattice points, axes) work index of each m
        position = position + base
        if isinstance(protocol.initial, str):
            initial = _log_odds(protocol.baths[protocol.initial], np.asarray(protocol.energies), n)
            initial_occupation, initial_vacancy = expit(initial), expit(-initial)
        else:
            initial, (initial_vacancy, initial_occupation) = None, protocol.initial
        log_odds = np.array(log_odds)
        values = (position[:, 0] * box.unit[0] if box.unit.size == 1 else position @ box.unit)
        chain = TwoStateChain(initial_occupation=float(initial_occupation), keep=np.array(keep),
                              occupation=expit(log_odds), vacancy=expit(-log_odds), work_weights=weights,
                              work_values=values, initial_vacancy=float(initial_vacancy),
                              initial_log_odds=None if initial is None else float(initial), log_odds=log_odds)
        index = position - box.low
        inside = np.all((index >= 0) & (index < box.size), axis=1)  # the box holds every reachable work
        return TwoStateCompilation(chain, np.where(inside, index @ box.strides, -1))

    def steps_per_trajectory(self) -> float:
        if self.two_state is not None:
            return float(self.two_state.chain.events + 1)
        # the histogram and the moment kernels draw the same steps: counted without building
        # either's tables or deciding the mode (which may need the exact sparse law)
        return float(random_step_count(self.chain.log_transition))

    def accumulate(self, seed: int, stream: int, first: int, count: int) -> dict[str, np.ndarray]:
        mode = self.mode
        if mode == "moments":
            return {"moments": moment_accumulate(self, seed, stream, first, count)}
        if mode == "sparse":
            return {"counts": self.support_counts(seed, stream, first, count)}
        return {"counts": self.counts(seed, stream, first, count)}

    def support_counts(self, seed: int, stream: int, first: int, count: int) -> np.ndarray:
        """int64 counts of trajectories first .. first + count - 1 per key of the exact support."""
        support = self.support[0]
        out = np.zeros(support.size, dtype=np.int64)
        for start in range(0, count, KEY_BATCH):
            keys, tally = np.unique(self.keys(seed, stream, first + start, min(KEY_BATCH, count - start)),
                                    return_counts=True)
            where = np.minimum(np.searchsorted(support, keys), support.size - 1)
            if np.any(support[where] != keys):
                raise RuntimeError("a sampled path lies outside the exact support")
            out[where] += tally
        return out

    def counts(self, seed: int, stream: int, first: int, count: int) -> np.ndarray:
        """int64 counts of trajectories first .. first + count - 1, shape ``self.shape``."""
        cells = int(np.prod(self.shape))
        if self.two_state is None:
            # one partial histogram per thread (equal-cost trajectories), at most ~64 MiB of them
            blocks = max(1, min(count, numba.get_num_threads(), (64 << 20) // (8 * cells)))
            return stroke_counts(seed, stream, first, count, self.tables, cells, blocks).reshape(self.shape)
        chain, box_index = self.two_state
        counts = chain.counts(seed, stream, first, count)
        inside = box_index >= 0
        if counts[:, :, ~inside].any():
            raise RuntimeError("a sampled work value lies outside its reachable range")
        # several chain indices can share a cell (mixed-radix lattice of a gap that rises and falls:
        # k rises and k falls all give the work 0), so their counts add
        out = np.zeros((2, 2, self.box.cells), dtype=np.int64)
        np.add.at(out, (slice(None), slice(None), box_index[inside]), counts[:, :, inside])
        return out.reshape(self.shape)

    def keys(self, seed: int, stream: int, first: int, count: int) -> np.ndarray:
        """Flat histogram index of each trajectory first .. first + count - 1."""
        if self.two_state is None:
            return stroke_keys(seed, stream, first, count, self.tables)
        chain, box_index = self.two_state
        n_initial, n_final, m = chain.paths(seed, stream, first, count)
        return (n_initial.astype(np.int64) * 2 + n_final) * self.box.cells + box_index[m]

    # --- observables ------------------------------------------------------------------------
    def cell_values(self, keys) -> dict[str, np.ndarray]:
        """Every observable at the histogram keys ``keys`` (flat C-order indices of the
        (initial level, final level, lattice...) box), as 1-d arrays."""
        protocol, chain, box = self.protocol, self.chain, self.box
        index = np.unravel_index(np.asarray(keys, dtype=np.int64), self.shape)
        initial, final, lattice = index[0], index[1], index[2:]
        tracked = [sum(box.values(a)[lattice[a]] for a in box.axes_of(p)) for p in range(len(self.tracked))]
        work = tracked[0]
        heats = {chain.names[k][len("heat_"):]: tracked[p] for p, k in enumerate(self.tracked)
                 if chain.names[k].startswith("heat_")}
        if self.derived is not None:
            # first law: Q_derived = E_j - E_i - W - (other heats) - mu N_b
            n = protocol.level_particles
            chemical = 0.0
            if len(self.baths) == 1:
                chemical = protocol.baths[self.derived].mu * (n[final] - n[initial])
            heats[self.derived] = (protocol.energy_path()[-1][final] - np.asarray(protocol.energies)[initial]
                                   - work - sum(heats.values(), 0.0) - chemical)
        values = {"work": work, **{f"heat_{b}": heats[b] for b in self.baths}}
        if self.why_no_entropy() is None:
            log_p0, log_pt = chain.log_initial, protocol.reference_log_populations()
            values["entropy_production"] = (np.where(log_p0 > -np.inf, log_p0, 0.0)[initial]
                                            - np.where(log_pt > -np.inf, log_pt, 0.0)[final]
                                            - sum(protocol.baths[b].beta * heats[b] for b in self.baths))
        if self.particle_bath is not None:
            n = protocol.level_particles
            values[f"particles_{self.particle_bath}"] = n[final] - n[initial]
        if self.counters:
            # tracked counters, the last from particle conservation (quenches conserve N)
            n = protocol.level_particles
            counted = {chain.names[k][len("particles_"):]: tracked[p] for p, k in enumerate(self.tracked)
                       if chain.names[k].startswith("particles_")}
            counted[self.counters[-1]] = n[final] - n[initial] - sum(counted.values(), 0.0)
            values.update({f"particles_{b}": counted[b] for b in self.counters})
        return {name: np.broadcast_to(value, initial.shape) for name, value in values.items()}

    @cached_property
    def log_cell_law(self) -> np.ndarray | None:
        """Exact ln P on ``cells()`` (None in modes "histogram" and "moments")."""
        if self.mode == "sparse":
            return self.support[1]
        return np.ravel(log_joint_pmf(self.chain, self.box)) if self.mode == "law" else None

    @property
    def particle_bath(self) -> str | None:
        """The bath whose net particles into the system, particles_<bath> = N_final - N_initial,
        are an observable: the only bath of a protocol whose levels carry different particle
        numbers (quenches conserve N).  None with two or more baths: their particles_<bath> are
        counters of the chain (``StrokeProtocol.particle_baths``)."""
        n = self.protocol.level_particles
        return self.baths[0] if len(self.baths) == 1 and np.any(n != n[0]) else None

    def why_no_entropy(self) -> str | None:
        """Why the entropy production is not an observable (a zero-temperature bath: sigma is
        infinite on every path that gives it heat), or None."""
        cold = self.protocol.zero_temperature_baths()
        if not cold:
            return None
        return (f"bath {cold[0]!r} is at zero temperature (beta = inf): the entropy production "
                "-beta Q is infinite on every path that gives it heat")

    def jarzynski(self) -> tuple[float, float] | str | None:
        """(beta, Delta F) for a Gibbs-bath protocol, a reason string at zero temperature, else None."""
        protocol = self.protocol
        gibbs = protocol.gibbs_bath()
        if gibbs is None:
            return None
        if protocol.baths[gibbs].zero_temperature:
            return (f"bath {gibbs!r} is at zero temperature (beta = inf): <e^(-beta W)> = e^(-beta dF) "
                    "has no finite form")
        return protocol.baths[gibbs].beta, protocol.free_energy_change()

    def cells(self) -> np.ndarray:
        """The histogram keys the counts of ``accumulate`` are laid on: the exact support in mode
        "sparse", else every key of the box."""
        return self.support[0] if self.mode == "sparse" else np.arange(int(np.prod(self.shape)))

    def exact_moments(self, name: str) -> tuple[float | None, float | None]:
        """Mean and variance of observable ``name`` from the transfer matrices (independent of the
        DP); (None, None) without exact references."""
        if not self.protocol.exact:
            return None, None
        return transfer_moments(self.chain, *self.observable_terms(name))

    def _entropy_terms(self):
        """sigma = ln p0(i) - sum_b beta_b Q_b - ln p~(j) as (coefficients, start, end)."""
        betas = [0.0] + [-self.protocol.baths[b].beta for b in self.baths] + [0.0] * len(self.counters)
        log_p0, log_pt = self.chain.log_initial, self.protocol.reference_log_populations()
        return np.array(betas), log_p0, -log_pt

    def observable_terms(self, name: str):
        """An additive observable as (coefficients of the increments, start term per initial level,
        end term per final level): X = start[i] + sum_n coefficients . increments_n + end[j].
        ValueError naming ``name`` when it is not one (work, heat_<bath>, entropy_production,
        particles_<bath>)."""
        names = self.chain.names
        if name in names:
            return np.eye(len(names))[names.index(name)], None, None
        if name == "entropy_production":
            if self.why_no_entropy() is not None:
                raise ValueError(f"no generating function of 'entropy_production': {self.why_no_entropy()}")
            return self._entropy_terms()
        if self.particle_bath is not None and name == f"particles_{self.particle_bath}":
            n = self.protocol.level_particles  # N_final - N_initial: endpoint terms only
            return np.zeros(len(names)), -n, n
        raise ValueError(f"no generating function of {name!r} for this stroke protocol (observables: "
                         f"{', '.join((*names, 'entropy_production'))})")

    def log_generating_function(self, name: str, s):
        """ln G(s) = ln<e^{-s X}> of observable ``name`` (``observable_terms``) from the tilted
        transfer matrices, in log space; ``s`` a scalar or 1-d array."""
        return log_generating_function(self.chain, s, *self.observable_terms(name))

    def log_integral_ft(self) -> float | str:
        """Exact ln<e^{-sigma}> (0 for every stroke protocol: computed, not assumed), or why the
        entropy production is not defined (``why_no_entropy``)."""
        return self.why_no_entropy() or zero_within_round_off(log_tilted_average(self.chain, *self._entropy_terms()))

    def direction_results(self, accumulator) -> tuple[DirectionResults, dict[str, pd.DataFrame]]:
        """Observables with their exact laws and moments (two baths: also ``efficiency``, conditioned
        on Q_hot != 0, and ``efficiency_undefined``), the free-energy and integral-FT checks, and the
        table ``work_heat`` (joint work and hot-bath heat)."""
        if "moments" in accumulator:
            return moment_results(self, accumulator["moments"], self.why_no_law()), {}
        counts = np.ravel(accumulator["counts"])
        mode = self.mode
        law = mode in ("law", "sparse")
        log_pmf = (self.support[1] if mode == "sparse" else np.ravel(log_joint_pmf(self.chain, self.box))
                   if law else np.zeros(counts.size))
        grids = self.cell_values(self.cells())
        observables = []
        for name, grid in grids.items():
            values, inverse = lattice_groups(grid)
            count = np.bincount(inverse, counts.ravel(), values.size).astype(np.int64)
            log_p = log_group_sum(inverse, log_pmf, values.size)
            seen = (count > 0) | (log_p > -np.inf) if law else count > 0
            mean, variance = self.exact_moments(name)
            observables.append(Observable(name, values[seen], count[seen], log_p[seen] if law else None,
                                          mean, variance))
        tables = {}
        if self.baths:
            tables["work_heat"] = joint_table(grids["work"], grids[f"heat_{self.hot}"], counts,
                                              log_pmf if law else None)
            tables["work_heat"].insert(2, "bath", self.hot)
        if len(self.baths) == 2:
            heat = grids[f"heat_{self.hot}"]
            observables += efficiency(grids["work"], heat, zero_heat(heat), counts,
                                      log_pmf if law else None, self.hot)
        exact = self.protocol.exact
        engine = None
        if len(self.baths) == 2:
            engine = engine_efficiency(grids["work"], grids[f"heat_{self.hot}"], counts, self.hot,
                                       self.exact_pair_moments("work", f"heat_{self.hot}") if exact else None)
        return DirectionResults(observables, jarzynski=self.jarzynski(),
                                integral_ft=self.log_integral_ft() if exact else NO_EXACT,
                                no_exact_reference=None if exact else NO_EXACT,
                                engine_efficiency=engine), tables

    def exact_pair_moments(self, x: str, y: str) -> tuple[float, float, float, float, float]:
        """Exact (<X>, <Y>, Var X, Var Y, Cov(X, Y)) of two tracked observables (transfer matrices;
        the covariance from Var(X + Y))."""
        chain = self.chain
        unit = np.eye(len(chain.names))
        mx, vx = transfer_moments(chain, unit[chain.names.index(x)])
        my, vy = transfer_moments(chain, unit[chain.names.index(y)])
        _, vs = transfer_moments(chain, unit[chain.names.index(x)] + unit[chain.names.index(y)])
        return mx, my, vx, vy, 0.5 * (vs - vx - vy)


def engine_efficiency(work, heat_hot, counts, hot: str, exact) -> EngineEfficiency:
    """The sums behind -<W>/<Q_hot> from counts on cells with these work and hot-heat values (sums
    in cell order: the same for any chunking)."""
    w, q = np.ravel(work), np.ravel(heat_hot)
    c = np.ravel(counts).astype(np.float64)
    sums = tuple(float(np.dot(c, v)) for v in (w, q, w * w, q * q, w * q))
    return EngineEfficiency(hot, int(np.ravel(counts).sum()), sums, exact)


def _log_odds(bath, energies, particles) -> float:
    """ln pi(1) / pi(0) = -beta ((E_1 - mu N_1) - (E_0 - mu N_0)) of a two-level Gibbs state:
    0 for degenerate levels and +-inf at zero temperature."""
    gap = (energies[1] - bath.mu * particles[1]) - (energies[0] - bath.mu * particles[0])
    return 0.0 if gap == 0 else -bath.beta * gap


def zero_heat(heat) -> np.ndarray:
    """Where a heat is zero, to 1e-9 relative to its largest |value| (the quanta of several axes may
    be rationally related: zero is a value, not an index)."""
    return np.abs(heat) <= 1e-9 * max(1.0, float(np.max(np.abs(heat), initial=0.0)))


def _two_state_of(chain, plain: TwoStateChain, events) -> TwoStateChain:
    """The two-state chain of a Doob-transformed stroke chain on the lattice of its ``plain``
    compilation: the quenches stay adiabatic (a tilted permutation step is the same permutation),
    each thermalisation (step ``events[e]``) becomes a 2 x 2 stochastic matrix with gain
    g = Q(0, 1) and loss l = Q(1, 0): kept with R = 1 - g - l (>= 0: det Q has the sign of
    det P = R_plain >= 0) or redrawn from Bernoulli(g / (g + l)), the log-odds ln g - ln l keeping
    the draws exact in log space."""
    log_steps = chain.log_transition
    log_gain, log_loss = log_steps[events, 0, 1], log_steps[events, 1, 0]
    gain, loss = np.exp(log_gain), np.exp(log_loss)
    moving = gain + loss > 0
    with np.errstate(invalid="ignore"):
        log_odds = np.where(moving, log_gain - log_loss, 0.0)
    occupation = np.where(moving, expit(log_odds), 0.5)
    return TwoStateChain(initial_occupation=float(np.exp(chain.log_initial[1])),
                         initial_vacancy=float(np.exp(chain.log_initial[0])),
                         initial_log_odds=float(chain.log_initial[1] - chain.log_initial[0]),
                         keep=np.clip(1.0 - gain - loss, 0.0, 1.0), occupation=occupation,
                         vacancy=np.where(moving, expit(-log_odds), 0.5), log_odds=log_odds,
                         work_weights=plain.work_weights, work_values=plain.work_values)


def _work_lattice(gain) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer weights (events + 1,) of the two-state chain's work index m, and the work index of
    the box (relative to level 0's moves) at every m, shape (points, axes), from each move's gain
    vector ``gain`` (events + 1, axes).  The smaller of two exact lattices: one quantum with gains
    of one sign (m counts quanta; chosen on a tie), or mixed radix over the distinct gain vectors.
    None when neither exists within MAX_TWO_STATE_LATTICE points (a one-quantum lattice is never
    refused: it is no larger than the reachable box)."""
    moving = np.any(gain != 0, axis=1)
    distinct, group, multiplicity = np.unique(gain[moving], axis=0, return_inverse=True, return_counts=True)
    grouped = float(np.prod(multiplicity + 1.0))
    if gain.shape[1] == 1 and (np.all(gain >= 0) or np.all(gain <= 0)):
        sign = -1 if np.any(gain < 0) else 1
        weights = sign * gain[:, 0]
        if weights.sum() + 1 <= grouped:
            return weights, sign * np.arange(weights.sum() + 1)[:, None]
    if grouped > MAX_TWO_STATE_LATTICE:
        return None
    strides = np.cumprod(np.concatenate([[1], multiplicity[:-1] + 1])).astype(np.int64)
    weights = np.zeros(gain.shape[0], np.int64)
    weights[moving] = strides[np.ravel(group)]
    m = np.arange(int(grouped))
    occupied = (m[:, None] // strides) % (multiplicity + 1)  # k_g: events of group g while occupied
    return weights, occupied @ distinct


def efficiency(work, heat_hot, undefined, counts, log_pmf, hot: str) -> tuple[Observable, Observable]:
    """The stochastic efficiency eta = -W / Q_hot and ``efficiency_undefined`` = [Q_hot == 0].

    ``efficiency_undefined`` is a Bernoulli observable over every trajectory (its mean is the
    fraction of trajectories where eta is undefined).  ``efficiency`` is an observable conditioned on
    Q_hot != 0 (``undefined`` marks the cells with Q_hot = 0, so nothing divides by zero): counted
    over the trajectories with Q_hot != 0, its atoms the distinct values of -W / Q_hot on the box
    (several (W, Q_hot) cells share one atom), its exact law the joint law ``log_pmf`` summed per
    atom and conditioned on Q_hot != 0.  Without ``log_pmf`` (the DP is too large) neither carries a
    law: their checks are inconclusive.  An eta atom can be large (|W| >> |Q_hot|); that is one
    value of a finite lattice, not a numerical problem."""
    counts, mask = np.ravel(counts), ~np.ravel(undefined)
    law = log_pmf is not None
    log_pmf = np.ravel(log_pmf) if law else np.zeros(counts.size)
    log_defined, log_undefined = logsumexp(log_pmf[mask]), logsumexp(log_pmf[~mask])
    flags = Observable("efficiency_undefined", np.array([0.0, 1.0]),
                       np.array([counts[mask].sum(), counts[~mask].sum()]),
                       np.array([log_defined, log_undefined]) if law else None, checks=("mean",))
    eta = -np.ravel(work)[mask] / np.ravel(heat_hot)[mask]
    values, inverse = lattice_groups(eta)
    count = np.bincount(inverse, counts[mask], values.size).astype(np.int64)
    # conditioned on Q_hot != 0; an event of probability 0 has no conditional law
    law = law and log_defined > -np.inf
    log_p = log_group_sum(inverse, log_pmf[mask], values.size) - log_defined if law else None
    seen = (count > 0) | (log_p > -np.inf) if law else count > 0
    return Observable("efficiency", values[seen], count[seen], log_p[seen] if law else None,
                      condition=f"heat_{hot} != 0"), flags


def joint_table(work, heat, counts, log_pmf) -> pd.DataFrame:
    """Joint histogram of (work, heat) with the exact probabilities (rows with mass or counts)."""
    w_values, w_index = lattice_groups(work)
    q_values, q_index = lattice_groups(heat)
    pair = w_index * q_values.size + q_index
    pairs, inverse = np.unique(pair, return_inverse=True)
    count = np.bincount(inverse, np.ravel(counts), pairs.size).astype(np.int64)
    if log_pmf is None:
        log_p = np.full(pairs.size, np.nan)
        seen = count > 0
    else:
        log_p = log_group_sum(inverse, log_pmf, pairs.size)
        seen = (count > 0) | (log_p > -np.inf)
    return pd.DataFrame({"work": w_values[pairs // q_values.size][seen], "heat": q_values[pairs % q_values.size][seen],
                         "count": count[seen], "probability_exact": np.exp(log_p[seen])})
