"""Chunks of a run: the pure chunk task, the plan of chunks still to sample, their file names and
the exact merge of their accumulators.

A chunk is trajectories first .. first + count - 1 of one protocol direction.  It is a pure function
of (spec, seed, direction, first, count), so any worker may run or retry it.  Integer accumulators
merge by addition (exact in any order); float accumulators hold one row per block of
``spec.block_size`` trajectory indices and merge by concatenation in index order, so no float sum
depends on the chunking.
"""
from __future__ import annotations

import re
from typing import Iterator

import numpy as np

_NAME = re.compile(r"^(forward|reverse)-(\d+)-(\d+)\.npz$")


def chunk_task(spec, seed, direction, first, count, with_samples):
    """One chunk: (accumulators, per-trajectory rows or None); safe to retry on any worker."""
    accumulator = spec.accumulate(direction, seed, first, count)
    rows = spec.samples(direction, seed, first, count) if with_samples else None
    return accumulator, rows


def chunk_name(direction: str, first: int, count: int) -> str:
    """File name of a chunk under ``<out>/chunks/``: direction, first index and count."""
    return f"{direction}-{first:015d}-{count:015d}.npz"


def parse_chunk_name(name: str) -> tuple[str, int, int] | None:
    """(direction, first, count) of a chunk file name, or None for any other name."""
    match = _NAME.match(name)
    return None if match is None else (match.group(1), int(match.group(2)), int(match.group(3)))


def plan_chunks(trajectories: int, chunk_size: int, done: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """(first, count) chunks covering [0, trajectories) minus the ``done`` (first, count) ranges,
    generated lazily (a plan never occupies memory proportional to the number of chunks)."""
    position = 0
    for first, count in sorted(done) + [(trajectories, 0)]:
        for start in range(position, first, chunk_size):
            yield start, min(chunk_size, first - start)
        position = max(position, first + count)


class Merger:
    """Merges chunk accumulators: integer arrays by addition, float arrays by concatenation of
    their per-block rows in trajectory order."""

    def __init__(self):
        self.integers, self.floats = {}, {}

    def add(self, first: int, accumulator: dict):
        for key, array in accumulator.items():
            if np.issubdtype(array.dtype, np.integer):
                self.integers[key] = self.integers[key] + array if key in self.integers else array.copy()
            else:
                self.floats.setdefault(key, {})[first] = array

    def result(self) -> dict:
        out = dict(self.integers)
        for key, parts in self.floats.items():
            out[key] = np.concatenate([parts[first] for first in sorted(parts)], axis=0)
        return out
