"""Running a model: chunk planning, local or Dask execution, resume, progress.

A run is split into chunks of consecutive trajectory indices per direction.  A chunk is a pure
function of (spec, seed, direction, first, count); its accumulators are written atomically under
``<out>/chunks/`` as soon as it completes, so an interrupted run resumes from the completed chunks
and the merged result is bit-identical to an uninterrupted one (integer accumulators add exactly;
float accumulators are per-block rows concatenated in trajectory order).
"""
from __future__ import annotations

import contextlib
import math
import re
import signal
import sys
import threading
import time
from pathlib import Path

import numba
import numpy as np

from . import io
import pandas as pd

from .tables import build as build_tables
from .run import Run, decorate, describe_difference, fingerprint, identity_of, run_info

#: default work per chunk, in random draws (about a second of kernel time)
CHUNK_STEPS = 2**29
MAX_SEED = 2**63 - 1
_CHUNK_NAME = re.compile(r"^(forward|reverse)-(\d+)-(\d+)\.npz$")


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return int(value)


def resolve_chunk_size(spec, chunk_size: int | None) -> int:
    """Trajectories per chunk, rounded up to a multiple of the model's block size."""
    if chunk_size is None:
        chunk_size = max(1, math.ceil(CHUNK_STEPS / max(spec.steps_per_trajectory(), 1.0)))
    chunk_size = _positive_int("chunk_size", chunk_size)
    return max(spec.block_size, math.ceil(chunk_size / spec.block_size) * spec.block_size)


def plan_chunks(trajectories: int, chunk_size: int, done: list[tuple[int, int]]):
    """(first, count) chunks covering [0, trajectories) minus the ``done`` (first, count) ranges."""
    plan, position = [], 0
    for first, count in sorted(done) + [(trajectories, 0)]:
        for start in range(position, first, chunk_size):
            plan.append((start, min(chunk_size, first - start)))
        position = max(position, first + count)
    return plan


class _Merger:
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


def _chunk_task(spec, seed, direction, first, count, with_samples):
    """One chunk: a pure function of its arguments (safe to retry on any worker)."""
    accumulator = spec.accumulate(direction, seed, first, count)
    rows = spec.samples(direction, seed, first, count) if with_samples else None
    return accumulator, rows


def _completed_chunks(chunk_dir: Path, directions, fingerprint: str):
    """Chunk files already on disk: {direction: [(first, count, path)]}."""
    done = {direction: [] for direction in directions}
    for stale in chunk_dir.glob(".*.tmp") if chunk_dir.exists() else []:
        stale.unlink()  # a write cut short by a crash (kill -9): that chunk is sampled again
    for path in sorted(chunk_dir.glob("*.npz")) if chunk_dir.exists() else []:
        match = _CHUNK_NAME.match(path.name)
        if not match or match.group(1) not in done:
            raise io.MCThermoFileError(f"{path}: unexpected file in the chunks folder")
        done[match.group(1)].append((int(match.group(2)), int(match.group(3)), path))
    for direction, chunks in done.items():
        chunks.sort()
        for (a, n, pa), (b, _, pb) in zip(chunks, chunks[1:]):
            if a + n > b:
                raise io.MCThermoFileError(f"{pa} and {pb} overlap: remove one of them")
    return done


def _prepare_output(out: Path, info: dict) -> None:
    """Refuse a directory holding another run or foreign files; record run.json (status running)."""
    run_file = out / io.RUN_FILE
    if run_file.exists():
        old = io.read_json(run_file)
        if identity_of(old) != identity_of(info):
            raise ValueError(f"--out {out} holds a different run ({describe_difference(old, info)}); "
                             "choose another directory")
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out} is not empty and holds no mcthermo run; choose another directory")
    io.write_json(run_file, {**info, "status": "running"})


def _chunk_results(tasks, scheduler):
    """Yield ((direction, first, count), (accumulator, rows)) as chunks complete."""
    if scheduler is None:
        for task in tasks:
            yield task[2:5], _chunk_task(*task)
        return
    from .distributed import map_chunks

    yield from map_chunks(tasks, scheduler)


def sample(spec, trajectories: int, seed: int, reverse: bool = False, *, out=None,
           chunk_size: int | None = None, workers: int | None = None, save_samples: bool = False,
           progress: bool = False, scheduler: str | None = None) -> Run:
    """Sample ``trajectories`` trajectories of ``spec`` (forward, and reverse if asked).

    out: run directory (resumable; see io.py); chunk_size: trajectories per chunk (results do not
    depend on it); workers: Numba threads; save_samples: keep per-trajectory rows; progress: bar on
    stderr; scheduler: a Dask scheduler address or "local" for a LocalCluster.
    """
    trajectories = _positive_int("trajectories", trajectories)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63 - 1] (got {seed!r})")
    if workers is not None:
        workers = _positive_int("workers", workers)
        if workers > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"workers must be <= {numba.config.NUMBA_NUM_THREADS} on this machine "
                             f"(got {workers})")
        numba.set_num_threads(workers)
    spec.check_tables_feasible()
    chunk_size = resolve_chunk_size(spec, chunk_size)
    info = run_info(spec, seed, trajectories, reverse)
    key = fingerprint(identity_of(info))
    directions = spec.directions(reverse)
    out = Path(out) if out is not None else None
    done = {direction: [] for direction in directions}
    if out is not None:
        _prepare_output(out, info)
        done = _completed_chunks(out / "chunks", directions, key)

    mergers = {direction: _Merger() for direction in directions}
    samples = []
    meter = Progress(f"{spec.name}", trajectories * len(directions), progress)
    tasks = []
    for direction in directions:
        for first, count, path in done[direction]:
            mergers[direction].add(first, io.read_chunk(path, key))
            meter.advance(count, resumed=True)
        ranges = [(first, count) for first, count, _ in done[direction]]
        tasks += [(spec, seed, direction, first, count, save_samples)
                  for first, count in plan_chunks(trajectories, chunk_size, ranges)]
    started = time.perf_counter()
    with _interrupt_between_chunks() as stop_if_interrupted:
        try:
            for (direction, first, count), (accumulator, rows) in _chunk_results(tasks, scheduler):
                if out is not None:
                    if rows is not None:
                        io.write_table(rows, out / "samples" / f"{direction}-{first:015d}.parquet",
                                       info)
                    io.write_chunk(out / "chunks" / f"{direction}-{first:015d}-{count:015d}.npz",
                                   accumulator, key)
                elif rows is not None:
                    samples.append(rows.assign(direction=direction))
                mergers[direction].add(first, accumulator)
                meter.advance(count)
                stop_if_interrupted()
        finally:
            meter.close()
    elapsed = time.perf_counter() - started
    tables = build_tables(spec.results({direction: merger.result() for direction, merger in mergers.items()}))
    info["status"] = "complete"
    tables = {name: decorate(frame, info) for name, frame in tables.items()}
    run = Run(info, tables, samples=pd.concat(samples, ignore_index=True) if samples else None,
              elapsed_seconds=elapsed)
    if out is not None:
        run.save(out)
    return run


@contextlib.contextmanager
def _interrupt_between_chunks():
    """Ctrl-C stops the run after the chunk in flight, whose result is kept.  A KeyboardInterrupt
    raised while a compiled kernel runs surfaces inside Numba's boxing of the kernel's results
    (a SystemError, or a crash), so the first Ctrl-C only sets a flag; a second one stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    requested = []

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(True)
        print("\nmcthermo: stopping after the chunk in flight (Ctrl-C again to stop at once)",
              file=sys.stderr)

    def stop_if_interrupted():
        if requested:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop_if_interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


class Progress:
    """A one-line progress bar on stderr: fraction, trajectories per second, ETA."""

    def __init__(self, label: str, total: int, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled and sys.stderr.isatty()
        self.done, self.start, self.started_with = 0, time.perf_counter(), 0

    def advance(self, trajectories: int, resumed: bool = False):
        self.done += trajectories
        if resumed:
            self.started_with += trajectories
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.started_with) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        fraction = self.done / self.total
        bar = "#" * int(30 * fraction)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {100 * fraction:5.1f}%  "
                         f"{rate:.3g} traj/s  ETA {eta:6.1f} s ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
