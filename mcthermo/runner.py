"""Running a model: validation, chunk planning, local or Dask execution, integrity, resume, progress.

A run is split into chunks of consecutive trajectory indices per direction (``chunks.py``).  Each
chunk's accumulators are written atomically under ``<out>/chunks/`` as soon as it completes and its
SHA-256 appended to the chunk manifest, so an interrupted run resumes from the completed chunks and
the merged result is bit-identical to an uninterrupted one.  Before anything is written, every
option is validated and the exact tables' feasibility checked; one process at a time writes a run
directory (``lock.py``); a complete run is never set back to "running".
"""
from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from . import blas, io
from .chunks import Merger, chunk_name, chunk_task, parse_chunk_name, plan_chunks
from .exact.effort import duration
from .lock import LOCK_FILE, run_lock
from .run import Run, decorate, describe_difference, fingerprint, identity_of, read_run, run_info
from .tables import build

#: default work per chunk, in random draws (about a second of kernel time)
CHUNK_STEPS = 2**29
#: the up-front cost model of a run: random draws (``steps_per_trajectory``) per second and thread
DRAWS_PER_SECOND = float(CHUNK_STEPS)
#: longest run accepted without ``yes=True`` / ``--yes`` (by the up-front estimate)
MAX_RUN_SECONDS = 24 * 3600.0
MAX_SEED = 2**63 - 1
#: trajectory indices are signed 64-bit integers in the kernels
MAX_TRAJECTORIES = 2**63 - 1


def _positive_int(name, value, minimum=1, maximum=MAX_TRAJECTORIES, bound="2**63 - 1"):
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        value = int(value)  # 1e5 is an integer written as a float; 1.5 and 1e-3 are not
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    if value > maximum:
        raise ValueError(f"{name} must be <= {bound} (got {value!r})")
    return int(value)


def resolve_chunk_size(spec, chunk_size: int | None) -> int:
    """Trajectories per chunk, rounded up to a multiple of the model's block size."""
    if chunk_size is None:
        chunk_size = max(1, math.ceil(CHUNK_STEPS / max(spec.steps_per_trajectory(), 1.0)))
    chunk_size = _positive_int("chunk_size", chunk_size)
    return max(spec.block_size, math.ceil(chunk_size / spec.block_size) * spec.block_size)


@contextlib.contextmanager
def numba_threads(workers: int | None):
    """Run with ``workers`` Numba threads (default: the current count), the BLAS of the exact
    references with as many (``blas.py``), and restore both afterwards."""
    previous = numba.get_num_threads()
    if workers is not None:
        numba.set_num_threads(workers)
    try:
        with blas.limited(numba.get_num_threads()):
            yield
    finally:
        numba.set_num_threads(previous)


def _check_out(out: Path, info: dict, save_samples: bool) -> dict | None:
    """Read-only: refuse an ``out`` that cannot hold this run; the run.json already there (same
    run) or None."""
    for parent in [out, *out.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--out {out}: {parent} is a file, not a directory")
            break
    run_file = out / io.RUN_FILE
    if run_file.exists():
        old = io.read_json(run_file)
        if identity_of(old) != identity_of(info):
            raise ValueError(f"--out {out} holds a different run ({describe_difference(old, info)}); "
                             "choose another directory")
        if save_samples and not old.get("save_samples"):
            raise ValueError(f"--save-samples: the run in {out} was started without samples, so they "
                             "would cover only the chunks still to sample; choose another --out")
        return old
    if out.exists() and any(p.name != LOCK_FILE for p in out.iterdir()):
        raise ValueError(f"--out {out} is not empty and holds no mcthermo run; choose another directory")
    return None


@contextlib.contextmanager
def _claimed(out: Path):
    """The lock of ``out``; a directory created here is removed again if the run fails before
    writing anything (a refused run leaves nothing behind)."""
    created = not out.exists()
    try:
        with run_lock(out):
            yield
    except BaseException:
        if created and not (out / io.RUN_FILE).exists():
            (out / LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _completed_chunks(out: Path, info: dict, directions, block_size: int):
    """Chunks on disk that the manifest (or a complete run's file list) vouches for:
    {direction: [(first, count, path, sha256)]}.  A chunk without a recorded hash (its write was
    cut short by a crash) is deleted and sampled again; overlapping or misplaced chunks are refused."""
    chunk_dir = out / "chunks"
    done = {direction: [] for direction in directions}
    if not chunk_dir.exists():
        return done
    recorded = {**info.get("files", {}), **io.read_manifest(chunk_dir)}
    for stale in chunk_dir.glob(".*.tmp"):
        stale.unlink()  # a write cut short by a crash (kill -9): that chunk is sampled again
    for path in sorted(chunk_dir.glob("*.npz")):
        parsed = parse_chunk_name(path.name)
        if parsed is None or parsed[0] not in done:
            raise io.MCThermoFileError(f"{path}: unexpected file in the chunks folder")
        direction, first, count = parsed
        digest = recorded.get(f"chunks/{path.name}")
        if digest is None:
            path.unlink()
            continue
        if first % block_size or count < 1 or first + count > info["trajectories"]:
            raise io.MCThermoFileError(f"{path}: chunk outside the run's plan ({info['trajectories']} "
                                       f"trajectories in blocks of {block_size}); delete it")
        done[direction].append((first, count, path, digest))
    for direction, chunks in done.items():
        chunks.sort()
        for (a, n, pa, _), (b, _, pb, _) in zip(chunks, chunks[1:]):
            if a + n > b:
                raise io.MCThermoFileError(f"{pa} and {pb} overlap: remove one of them")
    return done


def _chunk_results(tasks, scheduler):
    """Yield ((direction, first, count), (accumulator, rows)) as chunks complete."""
    if scheduler is None:
        for task in tasks:
            yield task[2:5], chunk_task(*task)
        return
    from .distributed import map_chunks

    yield from map_chunks(tasks, scheduler)


def _label_samples(rows: pd.DataFrame, info: dict, direction: str) -> pd.DataFrame:
    """Per-trajectory rows prefixed with model, run_id and direction (so files concatenate)."""
    rows = rows.drop(columns=[c for c in ("model", "run_id", "direction") if c in rows])
    rows.insert(0, "direction", direction)
    rows.insert(0, "run_id", info["run_id"])
    rows.insert(0, "model", info["model"])
    return rows


def expected_seconds(spec, trajectories: int, directions: int, threads: int) -> float:
    """Up-front estimate of a run's sampling time: its random draws (``steps_per_trajectory``) at
    ``DRAWS_PER_SECOND`` per thread."""
    draws = float(trajectories) * directions * max(spec.steps_per_trajectory(), 1.0)
    return draws / (DRAWS_PER_SECOND * max(threads, 1))


def sample(spec, trajectories: int, seed: int, reverse: bool = False, *, out=None,
           chunk_size: int | None = None, workers: int | None = None, save_samples: bool = False,
           progress: bool = False, scheduler: str | None = None, yes: bool = False, tilt=None) -> Run:
    """Sample ``trajectories`` trajectories of ``spec`` (forward, and reverse if asked).

    out: run directory (resumable; see io.py); chunk_size: trajectories per chunk (results do not
    depend on it); workers: Numba threads (restored afterwards; the exact references' BLAS uses as
    many); save_samples: keep per-trajectory rows; progress: bar on stderr (a terminal) and, after
    the first chunk, one line with the speed and the expected end (any stderr); scheduler: a Dask
    scheduler address or "local" for a LocalCluster; yes: run even when the up-front estimate
    (``expected_seconds``) exceeds ``MAX_RUN_SECONDS`` (24 h), which is otherwise refused.
    tilt: {observable: s or [s, ...]} or "auto" -- also sample the tilted laws P e^{-sX}/G(s) and
    reweight (``mcthermo.tilting``; chains, stroke protocols and jump systems: ``systems.open_tilting``).
    Every option and the feasibility of the exact tables are checked before anything is written.
    """
    if not callable(getattr(spec, "check_tables_feasible", None)):
        raise ValueError(f"spec must be a model instance such as mt.Staircase(...) or mt.Strokes(...) "
                         f"(got {type(spec).__name__})")
    if tilt is not None:
        from .tilting import tilted_spec

        spec = tilted_spec(spec, tilt)
    trajectories = _positive_int("trajectories", trajectories)
    if not isinstance(reverse, (bool, np.bool_)):
        raise ValueError(f"reverse must be True or False (got {reverse!r})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63 - 1] (got {seed!r})")
    if workers is not None:
        _positive_int("workers", workers, maximum=numba.config.NUMBA_NUM_THREADS,
                      bound=f"{numba.config.NUMBA_NUM_THREADS} on this machine")
    directions = spec.directions(reverse)
    with numba_threads(workers):
        spec.check_tables_feasible()
        for direction in directions:
            spec.prepare(direction)
    chunk_size = resolve_chunk_size(spec, chunk_size)
    info = run_info(spec, seed, trajectories, reverse)
    threads = workers or numba.get_num_threads()
    seconds = expected_seconds(spec, trajectories, len(directions), threads)
    if seconds > MAX_RUN_SECONDS and not yes:
        raise ValueError(f"--trajectories {trajectories:,}: about {duration(seconds)} of sampling "
                         f"expected ({trajectories * len(directions):,} trajectories x "
                         f"{spec.steps_per_trajectory():.3g} random draws at ~{DRAWS_PER_SECOND:.2g} "
                         f"per second on {threads} thread{'s' * (threads != 1)}; limit {duration(MAX_RUN_SECONDS)}); "
                         "pass --yes (mt.sample(..., yes=True)) to run it anyway")
    if out is None:
        with numba_threads(workers):
            return _sample(spec, info, directions, chunk_size, save_samples, progress, scheduler)
    if not isinstance(out, (str, Path)):
        raise ValueError(f"out must be a directory path (got {type(out).__name__})")
    out = Path(out)
    _check_out(out, info, save_samples)
    with _claimed(out), numba_threads(workers):
        old = _check_out(out, info, save_samples)  # again, now that no other writer can change it
        if old is not None:
            info = {**info, **{key: old[key] for key in ("run_id", "created", "status", "files",
                                                        "save_samples", "elapsed_seconds",
                                                        "trajectories_per_second") if key in old}}
            if old.get("status") == "complete":
                with contextlib.suppress(io.MCThermoFileError):
                    run = read_run(out)
                    print(f"mcthermo: {out} is complete; its tables were read, nothing was sampled",
                          file=sys.stderr)
                    return run
        return _sample(spec, info, directions, chunk_size, save_samples or info.get("save_samples", False),
                       progress, scheduler, out)


def _sample(spec, info, directions, chunk_size, save_samples, progress, scheduler, out=None) -> Run:
    """Sample the chunks not yet on disk, merge everything, build and (with ``out``) save the tables."""
    trajectories = info["trajectories"]
    key = fingerprint(identity_of(info))
    info = {**info, "save_samples": bool(save_samples)}
    done = _completed_chunks(out, info, directions, spec.block_size) if out is not None else \
        {direction: [] for direction in directions}
    resumed = sum(count for chunks in done.values() for _, count, _, _ in chunks)
    if resumed:
        print(f"mcthermo: resuming {out}: {resumed:,} of {trajectories * len(directions):,} "
              "trajectories already on disk", file=sys.stderr)
    files = {}  # SHA-256 of every chunk and sample file of the run, for run.json
    mergers = {direction: Merger() for direction in directions}
    for direction in directions:
        for first, count, path, digest in done[direction]:
            mergers[direction].add(first, io.read_chunk(path, key, (direction, first, count), digest))
            files[f"chunks/{path.name}"] = digest
    if out is not None:
        recorded = {**info.get("files", {}), **io.read_manifest(out / "chunks")}
        files.update({name: digest for name, digest in recorded.items()
                      if name.startswith("samples/") and (out / name).exists()})

    def tasks():
        for direction in directions:
            ranges = [(first, count) for first, count, _, _ in done[direction]]
            for first, count in plan_chunks(trajectories, chunk_size, ranges):
                yield spec, info["seed"], direction, first, count, save_samples

    samples = []
    meter = Progress(spec.name, trajectories * len(directions), progress)
    meter.advance(resumed, resumed=True)
    started = time.perf_counter()
    with _interrupt_between_chunks() as stop_if_interrupted:
        try:
            for (direction, first, count), (accumulator, rows) in _chunk_results(tasks(), scheduler):
                if rows is not None:
                    rows = _label_samples(rows, info, direction)
                if out is not None:
                    if not (out / io.RUN_FILE).exists():  # validated, feasible, first result in hand
                        io.write_json(out / io.RUN_FILE, {**info, "status": "running"})
                    written = {}
                    if rows is not None:
                        name = f"samples/{direction}-{first:015d}.parquet"
                        written[name] = io.write_table(rows, out / name, info)
                    name = chunk_name(direction, first, count)
                    written[f"chunks/{name}"] = io.write_chunk(out / "chunks" / name, accumulator, key,
                                                               direction, first, count)
                    io.append_manifest(out / "chunks", written)
                    files.update(written)
                elif rows is not None:
                    samples.append(rows)
                mergers[direction].add(first, accumulator)
                meter.advance(count)
                meter.estimate_once()
                stop_if_interrupted()
        finally:
            meter.close()
    elapsed = time.perf_counter() - started
    sampled = trajectories * len(directions) - resumed
    if sampled:
        info["elapsed_seconds"] = elapsed
        info["trajectories_per_second"] = sampled / elapsed if elapsed > 0 else None
    tables = build(spec.results({direction: merger.result() for direction, merger in mergers.items()}))
    _check_trajectory_counts(tables, trajectories, out)
    info = {**info, "status": "complete", "files": files}
    tables = {name: decorate(frame, info) for name, frame in tables.items()}
    run = Run(info, tables, _samples=pd.concat(samples, ignore_index=True) if samples else None)
    if out is not None:
        run.save(out)
    return run


def _check_trajectory_counts(tables, trajectories, out) -> None:
    """Every observable must have been counted over exactly the planned trajectories, a conditioned
    one (``condition`` not empty) over at most that many (a chunk whose content disagrees with its
    name would break this)."""
    summary = tables["summary"]
    counted = summary["trajectories"].to_numpy()
    conditioned = summary["condition"].fillna("").to_numpy() != "" if "condition" in summary else False
    wrong = np.where(conditioned, counted > trajectories, counted != trajectories)
    if np.any(wrong):
        raise io.MCThermoFileError(f"{out or 'this run'}: the merged chunks count {counted[wrong][0]} "
                                   f"trajectories where the run has {trajectories}; a chunk is damaged")


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
    """A one-line progress bar on stderr (terminals only): fraction, trajectories per second, ETA
    (both measured on the trajectories sampled in this session, not those resumed from disk); and,
    after the first chunk, one line with the speed and the expected end on any stderr (a log)."""

    def __init__(self, label: str, total: int, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled and sys.stderr.isatty()
        self.log = enabled and not sys.stderr.isatty()
        self.done, self.start, self.started_with = 0, time.perf_counter(), 0

    def estimate_once(self):
        """After the first chunk sampled here: '<label>: 1.2e+06 trajectories/s after the first
        chunk; expected end in 3.4 h (at 2026-01-01 12:00 UTC)', once, where no bar shows it."""
        if not self.log or self.done == self.started_with or self.done == self.total:
            return
        self.log = False
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.started_with) / elapsed if elapsed > 0 else float("inf")
        left = (self.total - self.done) / rate
        end = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() + left))
        print(f"mcthermo: {self.label}: {rate:.3g} trajectories/s after the first chunk "
              f"({self.done - self.started_with:,} of {self.total:,}); expected end in "
              f"{duration(left)} (at {end})", file=sys.stderr)

    def advance(self, trajectories: int, resumed: bool = False):
        self.done += trajectories
        if resumed:
            self.started_with += trajectories
            self.start = time.perf_counter()
        if not self.enabled or self.done == self.started_with:
            return
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.started_with) / elapsed if elapsed > 0 else 0.0
        eta = f"{(self.total - self.done) / rate:6.1f} s" if rate > 0 else "--"
        fraction = self.done / self.total
        bar = "#" * int(30 * fraction)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {100 * fraction:5.1f}%  "
                         f"{rate:.3g} traj/s  ETA {eta} ")
        sys.stderr.flush()

    def close(self):
        if self.enabled and self.done > self.started_with:
            sys.stderr.write("\n")
