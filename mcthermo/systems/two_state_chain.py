"""The two-state chain process shared by the staircase and the Landau–Zener crossing.

A trajectory is an occupation path n_0, n_1, ..., n_M of one level (n in {0, 1}).  n_0 is drawn from
Bernoulli(p_initial).  Before event i the level moves by ``rise[i]`` (work n * rise[i]); at event i
the occupation is kept with probability R_i (``keep``) or redrawn from Bernoulli(f_i)
(``occupation``, with the complement 1 - f given as ``vacancy`` where the model knows it more
accurately, e.g. from log-odds at low temperature); a last move ``rise[M]`` follows the last event.
Work is recorded on an integer lattice: move i adds ``n * work_weights[i]`` to the work index, and
``work_values[index]`` is the work of that index (energy units, hbar = k_B = 1).

Every observable of a chain model is a function of (n_initial, n_final, work index); the exact joint
distribution of that triple follows from dynamic programming over occupation x work index.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numba
import numpy as np

from ..kernels.chain import ChainTables, chain_counts, chain_occupations, chain_paths
from ..kernels.lanes import LANES


def _as_probabilities(name, values):
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.ndim != 1 or np.any(~np.isfinite(values)) or np.any((values < 0) | (values > 1)):
        raise ValueError(f"{name} must be a 1-d array of probabilities in [0, 1]")
    return values


@dataclass(frozen=True, eq=False)
class TwoStateChain:
    """Flat arrays of one protocol direction; see the module docstring for the process."""

    initial_occupation: float
    keep: np.ndarray
    occupation: np.ndarray
    work_weights: np.ndarray
    work_values: np.ndarray
    #: 1 - initial_occupation and 1 - occupation (default: computed by subtraction)
    initial_vacancy: float | None = None
    vacancy: np.ndarray | None = None
    #: ln[f / (1 - f)] of the initial draw and of each redraw, where the model knows them (the
    #: log-space exact answers then keep probabilities that underflow, e.g. e^{-1000})
    initial_log_odds: float | None = None
    log_odds: np.ndarray | None = None

    def __post_init__(self):
        keep = _as_probabilities("keep", self.keep)
        occupation = _as_probabilities("occupation", self.occupation)
        vacancy = _as_probabilities("vacancy", 1.0 - occupation if self.vacancy is None else self.vacancy)
        weights = np.ascontiguousarray(self.work_weights, dtype=np.int64)
        values = np.ascontiguousarray(self.work_values, dtype=np.float64)
        if keep.shape != occupation.shape or vacancy.shape != occupation.shape:
            raise ValueError("keep, occupation and vacancy need one entry per event")
        if weights.shape != (keep.size + 1,) or np.any(weights < 0):
            raise ValueError("work_weights need one non-negative integer per move (events + 1)")
        if values.shape != (int(weights.sum()) + 1,) or np.any(~np.isfinite(values)):
            raise ValueError("work_values need one finite value per work index 0..sum(work_weights)")
        if not 0.0 <= self.initial_occupation <= 1.0:
            raise ValueError("initial_occupation must lie in [0, 1]")
        initial_vacancy = (1.0 - self.initial_occupation if self.initial_vacancy is None
                           else float(self.initial_vacancy))
        if np.any(np.abs(occupation + vacancy - 1.0) > 1e-12) or not (
                abs(self.initial_occupation + initial_vacancy - 1.0) <= 1e-12):
            raise ValueError("vacancy must be 1 - occupation")
        object.__setattr__(self, "keep", keep)
        object.__setattr__(self, "occupation", occupation)
        object.__setattr__(self, "vacancy", vacancy)
        object.__setattr__(self, "initial_vacancy", initial_vacancy)
        object.__setattr__(self, "work_weights", weights)
        object.__setattr__(self, "work_values", values)
        if self.log_odds is not None:
            log_odds = np.ascontiguousarray(self.log_odds, dtype=np.float64)
            if log_odds.shape != occupation.shape or np.any(np.isnan(log_odds)):
                raise ValueError("log_odds need one value (not NaN) per event")
            object.__setattr__(self, "log_odds", log_odds)

    def starting_from(self, occupation: float) -> "TwoStateChain":
        """The same chain with another initial occupation probability."""
        return replace(self, initial_occupation=float(occupation), initial_vacancy=None,
                       initial_log_odds=None)

    @property
    def events(self) -> int:
        return self.keep.size

    @property
    def lattice_size(self) -> int:
        return self.work_values.size

    @cached_property
    def tables(self) -> ChainTables:
        """Kernel tables (see ``kernels/chain.py``): per event (the initial draw first) the gain
        probability P(n'=1 | n=0) = (1-R) f and loss probability P(n'=0 | n=1) = (1-R)(1-f), their
        16-bit fast thresholds, and the work weights, padded with no-op events to whole blocks."""
        redraw = 1.0 - self.keep
        gain = np.concatenate(([self.initial_occupation], redraw * self.occupation))
        loss = np.concatenate(([self.initial_vacancy], redraw * self.vacancy))
        events = gain.size
        padding = -events % LANES
        gain, loss = np.pad(gain, (0, padding)), np.pad(loss, (0, padding))
        weights = np.pad(self.work_weights, (0, padding))
        # leading 16 bits of the probabilities, capped so that they fit a lane (ties settle the rest)
        below = np.minimum(np.floor(gain * 65536.0), 65535.0).astype(np.uint16)
        above = (65535.0 - np.minimum(np.floor(loss * 65536.0), 65535.0)).astype(np.uint16)
        per_block = weights.reshape(-1, LANES)
        weighted = (per_block > 0).astype(np.uint64) @ (np.uint64(1) << np.arange(LANES, dtype=np.uint64))
        # popcount x weight where a block's non-zero weights agree (0: no weight at all)
        largest = per_block.max(axis=1)
        smallest = np.where(per_block > 0, per_block, largest[:, None]).min(axis=1)
        block_weight = np.where(smallest == largest, largest, -1)
        return ChainTables(events, below, above, gain, loss, weights, weighted, block_weight)

    # --- sampling -------------------------------------------------------------------------
    def counts(self, seed: int, stream: int, first: int, count: int, blocks: int | None = None) -> np.ndarray:
        """int64 counts, shape (2, 2, lattice_size), over (n_initial, n_final, work index), from
        ``blocks`` partial histograms (default: enough to balance the threads, at most ~64 MiB)."""
        if blocks is None:
            blocks = max(1, min(count, 8 * numba.get_num_threads(), (64 << 20) // (32 * self.lattice_size)))
        return chain_counts(seed, stream, first, count, self.tables, self.lattice_size, blocks)

    def paths(self, seed: int, stream: int, first: int, count: int):
        """Per-trajectory (n_initial, n_final, work index) arrays."""
        blocks = max(1, min(count, 8 * numba.get_num_threads()))
        return chain_paths(seed, stream, first, count, self.tables, blocks)

    def occupations(self, seed: int, stream: int, index: int) -> np.ndarray:
        """Occupation after each event of trajectory ``index`` (n_0 .. n_M)."""
        return chain_occupations(seed, stream, index, self.tables)

    # --- exact answers --------------------------------------------------------------------
    def occupation_probabilities(self) -> np.ndarray:
        """Mean occupation p_0 .. p_M after each event (the master equation of the chain)."""
        p = np.empty(self.events + 1)
        p[0] = self.initial_occupation
        for i in range(self.events):
            # kept with probability R, else redrawn: p' = R p + (1 - R) f
            p[i + 1] = self.keep[i] * p[i] + (1.0 - self.keep[i]) * self.occupation[i]
        return p

    def joint_pmf(self) -> np.ndarray:
        """Exact P(n_initial, n_final, work index), shape (2, 2, lattice_size), by dynamic programming."""
        size = self.lattice_size
        pmf = np.zeros((2, 2, size))
        pmf[0, 0, 0] = self.initial_vacancy
        pmf[1, 1, self.work_weights[0]] = self.initial_occupation
        for i in range(self.events):
            R, f, vacancy = self.keep[i], self.occupation[i], self.vacancy[i]
            redrawn = (1.0 - R) * pmf.sum(axis=1)  # mass that forgets its occupation
            to_empty = R * pmf[:, 0] + vacancy * redrawn
            to_occupied = R * pmf[:, 1] + f * redrawn
            shift = self.work_weights[i + 1]
            pmf[:, 0] = to_empty
            pmf[:, 1] = 0.0
            pmf[:, 1, shift:] = to_occupied[:, : size - shift]
        return pmf


    # --- exact answers in log space ------------------------------------------------------
    def _log_draws(self):
        """ln f, ln(1 - f) of the initial draw and of each redraw (from the log-odds where given:
        ln f = -ln(1 + e^{-x}), ln(1 - f) = -ln(1 + e^{x}), exact where f underflows)."""
        with np.errstate(divide="ignore"):
            if self.initial_log_odds is not None:
                x = float(self.initial_log_odds)
                initial = (-np.logaddexp(0.0, -x), -np.logaddexp(0.0, x))
            else:
                initial = (np.log(self.initial_occupation), np.log(self.initial_vacancy))
            if self.log_odds is not None:
                redraw = (-np.logaddexp(0.0, -self.log_odds), -np.logaddexp(0.0, self.log_odds))
            else:
                redraw = (np.log(self.occupation), np.log(self.vacancy))
            keep = (np.log(self.keep), np.log1p(-self.keep))
        return initial, redraw, keep

    def log_occupation_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """(ln p_i, ln(1 - p_i)), i = 0 .. M: the master equation p' = R p + (1 - R) f and its
        complement 1 - p' = R (1 - p) + (1 - R)(1 - f) in log space (no 1 - p cancellation)."""
        (occupied, empty), (log_f, log_vacancy), (log_keep, log_redraw) = self._log_draws()
        log_p, log_q = np.empty(self.events + 1), np.empty(self.events + 1)
        log_p[0], log_q[0] = occupied, empty
        for i in range(self.events):
            log_p[i + 1] = np.logaddexp(log_keep[i] + log_p[i], log_redraw[i] + log_f[i])
            log_q[i + 1] = np.logaddexp(log_keep[i] + log_q[i], log_redraw[i] + log_vacancy[i])
        return log_p, log_q

    def log_joint_pmf(self) -> np.ndarray:
        """ln P(n_initial, n_final, work index), shape (2, 2, lattice_size), -inf where impossible:
        the dynamic programme of ``joint_pmf`` in log space (atoms far below 1e-308 survive); computed
        once per chain, a copy returned."""
        return self._log_joint_pmf.copy()

    @cached_property
    def _log_joint_pmf(self) -> np.ndarray:
        (occupied, empty), (log_f, log_vacancy), (log_keep, log_redraw) = self._log_draws()
        size = self.lattice_size
        log_pmf = np.full((2, 2, size), -np.inf)
        log_pmf[0, 0, 0] = empty
        log_pmf[1, 1, self.work_weights[0]] = occupied
        for i in range(self.events):
            # mass that forgets its occupation, then kept or redrawn into empty / occupied
            redrawn = log_redraw[i] + np.logaddexp(log_pmf[:, 0], log_pmf[:, 1])
            to_empty = np.logaddexp(log_keep[i] + log_pmf[:, 0], log_vacancy[i] + redrawn)
            to_occupied = np.logaddexp(log_keep[i] + log_pmf[:, 1], log_f[i] + redrawn)
            shift = self.work_weights[i + 1]
            log_pmf[:, 0] = to_empty
            log_pmf[:, 1] = -np.inf
            log_pmf[:, 1, shift:] = to_occupied[:, : size - shift]
        return log_pmf
