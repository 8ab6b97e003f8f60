"""The two-state chain process shared by the staircase and the Landau–Zener crossing.

A trajectory is an occupation path n_0, n_1, ..., n_M of one level (n in {0, 1}).  n_0 is drawn from
Bernoulli(p_initial).  Before event i the level moves by ``rise[i]`` (work n * rise[i]); at event i
the occupation is kept with probability R_i (``keep``) or redrawn from Bernoulli(f_i)
(``occupation``); a last move ``rise[M]`` follows the last event.  Work is recorded on an integer
lattice: move i adds ``n * work_weights[i]`` to the work index, and ``work_values[index]`` is the
work of that index (energy units, hbar = k_B = 1).

Every observable of a chain model is a function of (n_initial, n_final, work index); the exact joint
distribution of that triple follows from dynamic programming over occupation x work index.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from ..checks import bar_check, crooks_checks, distribution_check, jarzynski_check, mean_check, variance_check
from ..theorems import EstimatorError
from ..stats import histogram_frame, lattice_groups, summary_row
from .base import STREAMS, Model
from ..kernels.chain import chain_counts, chain_occupations, chain_paths
from ..kernels.rng import bernoulli_threshold32


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

    def __post_init__(self):
        keep = _as_probabilities("keep", self.keep)
        occupation = _as_probabilities("occupation", self.occupation)
        weights = np.ascontiguousarray(self.work_weights, dtype=np.int64)
        values = np.ascontiguousarray(self.work_values, dtype=np.float64)
        if keep.shape != occupation.shape:
            raise ValueError("keep and occupation need one entry per event")
        if weights.shape != (keep.size + 1,) or np.any(weights < 0):
            raise ValueError("work_weights need one non-negative integer per move (events + 1)")
        if values.shape != (int(weights.sum()) + 1,) or np.any(~np.isfinite(values)):
            raise ValueError("work_values need one finite value per work index 0..sum(work_weights)")
        if not 0.0 <= self.initial_occupation <= 1.0:
            raise ValueError("initial_occupation must lie in [0, 1]")
        object.__setattr__(self, "keep", keep)
        object.__setattr__(self, "occupation", occupation)
        object.__setattr__(self, "work_weights", weights)
        object.__setattr__(self, "work_values", values)

    @property
    def events(self) -> int:
        return self.keep.size

    @property
    def lattice_size(self) -> int:
        return self.work_values.size

    def thresholds(self):
        """Kernel thresholds: P(n'=1 | n=0) = (1-R) f and P(n'=1 | n=1) = R + (1-R) f, on the 2**-32 grid."""
        empty = (1.0 - self.keep) * self.occupation
        occupied = np.minimum(1.0, self.keep + empty)
        return (
            bernoulli_threshold32(self.initial_occupation),
            bernoulli_threshold32(empty),
            bernoulli_threshold32(occupied),
        )

    # --- sampling -------------------------------------------------------------------------
    def counts(self, seed: int, stream: int, first: int, count: int, blocks: int) -> np.ndarray:
        """int64 counts, shape (2, 2, lattice_size), over (n_initial, n_final, work index)."""
        initial, empty, occupied = self.thresholds()
        return chain_counts(seed, stream, first, count, initial, empty, occupied, self.work_weights,
                            self.lattice_size, blocks)

    def paths(self, seed: int, stream: int, first: int, count: int):
        """Per-trajectory (n_initial, n_final, work index) arrays."""
        initial, empty, occupied = self.thresholds()
        return chain_paths(seed, stream, first, count, initial, empty, occupied, self.work_weights)

    def occupations(self, seed: int, stream: int, index: int) -> np.ndarray:
        """Occupation after each event of trajectory ``index`` (n_0 .. n_M)."""
        initial, empty, occupied = self.thresholds()
        return chain_occupations(seed, stream, index, initial, empty, occupied, self.work_weights)

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
        pmf[0, 0, 0] = 1.0 - self.initial_occupation
        pmf[1, 1, self.work_weights[0]] = self.initial_occupation
        for i in range(self.events):
            R, f = self.keep[i], self.occupation[i]
            redrawn = (1.0 - R) * pmf.sum(axis=1)  # mass that forgets its occupation
            to_empty = R * pmf[:, 0] + (1.0 - f) * redrawn
            to_occupied = R * pmf[:, 1] + f * redrawn
            shift = self.work_weights[i + 1]
            pmf[:, 0] = to_empty
            pmf[:, 1] = 0.0
            pmf[:, 1, shift:] = to_occupied[:, : size - shift]
        return pmf


class ChainModel(Model):
    """A model sampled by the two-state chain kernel.  Subclasses give ``chain(direction)``,
    ``observables(direction, n_initial, n_final, work)``, ``beta`` and ``free_energy_change()``."""

    #: observables with a variance and a full-distribution check (every observable gets a mean check)
    distribution_checks: tuple[str, ...] = ("work",)

    def chain(self, direction: str) -> TwoStateChain:
        raise NotImplementedError

    def observables(self, direction, n_initial, n_final, work) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def free_energy_change(self) -> float:
        raise NotImplementedError

    def steps_per_trajectory(self) -> float:
        return float(self.chain("forward").events + 1)

    def accumulate(self, direction, seed, first, count):
        chain = self.chain(direction)
        # partial histograms per block: enough blocks to balance threads, at most ~64 MiB of them
        blocks = max(1, min(count, 8 * numba.get_num_threads(), (64 << 20) // (32 * chain.lattice_size)))
        return {"counts": chain.counts(seed, STREAMS[direction], first, count, blocks)}

    def samples(self, direction, seed, first, count):
        chain = self.chain(direction)
        n_initial, n_final, index = chain.paths(seed, STREAMS[direction], first, count)
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

    def tables(self, accumulators):
        histogram, summary, checks = [], [], []
        work = {}
        for direction, accumulator in accumulators.items():
            chain = self.chain(direction)
            counts = accumulator["counts"]
            exact = chain.joint_pmf()
            for name, grid in self._observable_grids(direction, chain).items():
                values, inverse = lattice_groups(grid)
                count = np.bincount(inverse, counts.ravel(), values.size).astype(np.int64)
                probability = np.bincount(inverse, exact.ravel(), values.size)
                histogram.append(histogram_frame(direction, name, values, count, probability))
                summary.append(summary_row(direction, name, values, count, probability))
                checks.append(mean_check(direction, name, values, count, summary[-1]["mean_exact"]))
                if name in self.distribution_checks:
                    checks.append(variance_check(direction, name, values, count,
                                                 summary[-1]["std_exact"] ** 2))
                    checks.append(distribution_check(direction, name, count, probability))
                if name == "work":
                    work[direction] = (values, count)
                    work_exact = probability
            sign = 1.0 if direction == "forward" else -1.0
            checks.append(jarzynski_check(direction, *work[direction], self.beta,
                                          sign * self.free_energy_change(), work_exact))
        if len(work) == 2:
            # BAR and Crooks need work values populated in both directions: with too few
            # trajectories (or no overlap) they are not evaluated rather than fail the run
            try:
                checks.append(bar_check(work["forward"], work["reverse"], self.beta,
                                        self.free_energy_change()))
            except EstimatorError:
                pass
            try:
                checks.extend(crooks_checks(work["forward"], work["reverse"], self.beta,
                                            self.free_energy_change()))
            except EstimatorError:
                pass
        return {
            "histogram": pd.concat(histogram, ignore_index=True),
            "summary": pd.DataFrame(summary),
            "checks": pd.DataFrame(checks),
        }
