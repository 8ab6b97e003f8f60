"""A run's identity (run.json), its tables, and reading them back from disk."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import io
from .models import MODELS

FORMAT = 1
BASE_TABLES = ("histogram", "summary", "checks")


def _version():
    from . import __version__

    return __version__


def identity(spec, seed: int, trajectories: int, reverse: bool) -> dict:
    """What determines a run's results: equal identities give bit-identical tables."""
    return {"model": spec.name, "parameters": spec.parameters(), "seed": int(seed),
            "trajectories": int(trajectories), "reverse": bool(reverse), "format": FORMAT}


def identity_of(info: dict) -> dict:
    """The identity part of a run.json."""
    return {key: info.get(key) for key in ("model", "parameters", "seed", "trajectories", "reverse",
                                          "format")}


def fingerprint(ident: dict) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def run_info(spec, seed, trajectories, reverse) -> dict:
    ident = identity(spec, seed, trajectories, reverse)
    from . import HEAT_CONVENTION

    return {**ident, "run_id": fingerprint(ident)[:16], "version": _version(),
            "heat_convention": HEAT_CONVENTION,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def describe_difference(old: dict, new: dict) -> str:
    """The first field in which two run identities differ, for error messages."""
    for key in ("model", "seed", "trajectories", "reverse", "format"):
        if old.get(key) != new.get(key):
            return f"{key}: {old.get(key)!r} there, {new.get(key)!r} here"
    old_p, new_p = old.get("parameters", {}), new.get("parameters", {})
    for key in sorted(set(old_p) | set(new_p)):
        if old_p.get(key) != new_p.get(key):
            return f"{key}: {old_p.get(key)!r} there, {new_p.get(key)!r} here"
    return "identity differs"


def decorate(frame: pd.DataFrame, info: dict) -> pd.DataFrame:
    """Prefix model, run_id and the parameter columns so tables of many runs concatenate."""
    columns = {"model": info["model"], "run_id": info["run_id"], **info["parameters"]}
    prefix = pd.DataFrame({key: [value] * len(frame) for key, value in columns.items()},
                          index=frame.index)
    return pd.concat([prefix, frame.drop(columns=[c for c in columns if c in frame])], axis=1)


@dataclass
class Run:
    """One run: ``info`` (run.json content) and its tables (pandas DataFrames)."""

    info: dict
    tables: dict[str, pd.DataFrame]
    samples: pd.DataFrame | None = field(default=None, repr=False)
    elapsed_seconds: float | None = None

    @property
    def histogram(self) -> pd.DataFrame:
        return self.tables["histogram"]

    @property
    def summary(self) -> pd.DataFrame:
        return self.tables["summary"]

    @property
    def checks(self) -> pd.DataFrame:
        return self.tables["checks"]

    @property
    def passed(self) -> bool:
        """Whether every check of the run passed."""
        return bool(self.checks["passed"].all())

    @property
    def spec(self):
        return MODELS[self.info["model"]].from_parameters(self.info["parameters"])

    def save(self, path) -> Path:
        """Write run.json and every table (atomically) under ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        io.write_json(path / io.RUN_FILE, self.info)
        for name, frame in self.tables.items():
            io.write_table(frame, path / f"{name}.parquet", self.info)
        return path


@dataclass
class Collection:
    """Several runs (a sweep or the demo): tables concatenated into tidy frames."""

    runs: list[Run]

    def table(self, name: str) -> pd.DataFrame:
        frames = [run.tables[name] for run in self.runs if name in run.tables]
        if not frames:
            raise KeyError(f"no run here has a {name} table")
        return pd.concat(frames, ignore_index=True)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        names = dict.fromkeys(name for run in self.runs for name in run.tables)
        return {name: self.table(name) for name in names}

    @property
    def histogram(self) -> pd.DataFrame:
        return self.table("histogram")

    @property
    def summary(self) -> pd.DataFrame:
        return self.table("summary")

    @property
    def checks(self) -> pd.DataFrame:
        return self.table("checks")

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs)


def read_run(path) -> Run:
    path = Path(path)
    info = io.read_json(path / io.RUN_FILE)
    if info.get("status", "complete") != "complete":
        raise io.MCThermoFileError(f"{path}: run not finished (rerun the same command to resume it)")
    tables = {}
    for table_path in sorted(path.glob("*.parquet")):
        tables[table_path.stem] = io.read_table(table_path)
    missing = [name for name in BASE_TABLES if name not in tables]
    if missing:
        raise io.MCThermoFileError(f"{path}: run lacks table(s) {', '.join(missing)}")
    return Run(info, tables)


def read(path, table: str | None = None):
    """Read a run directory (-> Run) or a directory of runs (-> Collection, tables concatenated).

    With ``table`` ("histogram", "summary", "checks", or an extra table) return that DataFrame.
    """
    path = Path(path)
    if (path / io.RUN_FILE).exists():
        result = read_run(path)
    else:
        run_files = sorted(path.rglob(io.RUN_FILE)) if path.is_dir() else []
        if not run_files:
            raise io.MCThermoFileError(f"{path}: no mcthermo run here (no {io.RUN_FILE} found)")
        result = Collection([read_run(run_file.parent) for run_file in run_files])
    if table is None:
        return result
    return result.table(table) if isinstance(result, Collection) else result.tables[table]
