"""What every model spec provides to the runner, the table builder and the command line."""
from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from .options import add_field_options, field_values

#: RNG stream of each protocol direction (distinct, derived keys: see kernels/rng.py).
STREAMS = {"forward": 0, "reverse": 1}


class Model(abc.ABC):
    """A frozen dataclass of physical parameters that samples itself and knows its exact answers.

    Accumulators are dicts of numpy arrays.  Integer arrays merge by addition (exact, any order);
    float arrays must have one row per block of ``block_size`` consecutive trajectory indices and
    merge by concatenation in index order, so float sums never depend on chunking.
    """

    name: ClassVar[str]
    block_size: ClassVar[int] = 1
    #: tables this model writes besides histogram/summary/checks
    extra_tables: ClassVar[tuple[str, ...]] = ()

    def parameters(self) -> dict:
        """JSON-able parameters: run.json entry and the parameter columns of every table."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    @classmethod
    def from_parameters(cls, parameters: dict):
        return cls(**parameters)

    @classmethod
    def table_parameters(cls, parameters: dict) -> dict:
        """The parameter columns of every table: the scalar parameters (numbers, booleans, names;
        what a sweep varies).  Lists, matrices and nested data stay in run.json only; the tables
        carry ``system_id`` (the fingerprint of all parameters) to find them."""
        return {key: value for key, value in parameters.items()
                if value is None or isinstance(value, (bool, int, float, str))}

    def directions(self, reverse: bool) -> list[str]:
        return ["forward", "reverse"] if reverse else ["forward"]

    def steps_per_trajectory(self) -> float:
        """Random draws (or events) per trajectory: for progress and benchmarks."""
        return 1.0

    def check_tables_feasible(self) -> None:
        """Raise ValueError before sampling if the exact tables of this spec cannot be computed in
        reasonable time and memory."""

    def prepare(self, direction: str) -> None:
        """Size (refusing what exceeds the limits of ``exact/effort.py``) and compute the exact work
        that sampling ``direction`` needs, before the first chunk: there Ctrl-C stops it at once
        and nothing is written yet."""

    @abc.abstractmethod
    def accumulate(self, direction: str, seed: int, first: int, count: int) -> dict[str, np.ndarray]:
        """Sample trajectories first .. first + count - 1 of ``direction`` into accumulators."""

    @abc.abstractmethod
    def samples(self, direction: str, seed: int, first: int, count: int) -> pd.DataFrame:
        """Per-trajectory rows of the same trajectories (column ``trajectory`` = index)."""

    def _cached(self, key, compute):
        """``compute()`` once per spec instance (frozen dataclasses: kept in ``__dict__``)."""
        cache = self.__dict__.setdefault("_derived", {})
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    @abc.abstractmethod
    def results(self, accumulators: dict[str, dict[str, np.ndarray]]) -> "Results":
        """What the merged accumulators and the exact answers declare (``mcthermo.results``); the
        one table builder (``mcthermo.tables.build``) turns it into tables."""

    @classmethod
    def add_arguments(cls, parser) -> None:
        """Command-line options of ``mcthermo sample <name>``: one per field declaring
        ``metadata=option(...)`` (see mcthermo/options.py)."""
        add_field_options(parser, cls)

    @classmethod
    def from_arguments(cls, args):
        """The spec of the options given (the dataclass defaults for the others)."""
        return cls(**field_values(args, cls))


#: largest |energy| and |beta x energy| (and beta, 1/beta) a model accepts for its observables: the
#: variance check takes the fourth moment of squared deviations, i.e. 8th powers, and (4e30)^8 x 2^63
#: trajectories stays finite where 1e40^8 does not
MAX_MAGNITUDE = 1e30


def require(condition: bool, message: str) -> None:
    """Spec validation: one clear sentence naming the parameter and its allowed range."""
    if not condition:
        raise ValueError(message)


def finite(name, value):
    require(isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value),
            f"{name} must be a finite number (got {value!r})")
    return float(value)
