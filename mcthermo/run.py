"""A run's identity (run.json), its tables, and reading them back from disk."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import io
from .models import MODELS

FORMAT = 1
BASE_TABLES = ("histogram", "summary", "checks")


def _version():
    from . import __version__

    return __version__


def identity(spec, seed: int, trajectories: int, reverse: bool) -> dict:
    """What determines a run's results: equal identities give bit-identical tables (a tilted run's
    identity also holds its tilt, ``mcthermo.tilting``)."""
    ident = {"model": spec.name, "parameters": spec.parameters(), "seed": int(seed),
             "trajectories": int(trajectories), "reverse": bool(reverse), "format": FORMAT}
    record = getattr(spec, "record", None)
    if callable(record):
        ident["tilt"] = record()
    return ident


def identity_of(info: dict) -> dict:
    """The identity part of a run.json."""
    keys = ("model", "parameters", "seed", "trajectories", "reverse", "format")
    return {key: info.get(key) for key in keys + (("tilt",) if "tilt" in info else ())}


def fingerprint(ident: dict) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def system_id(parameters: dict) -> str:
    """The fingerprint of a spec's parameters (16 hex digits): the tables' ``system_id``."""
    return fingerprint(parameters)[:16]


def run_info(spec, seed, trajectories, reverse) -> dict:
    ident = identity(spec, seed, trajectories, reverse)
    from . import HEAT_CONVENTION

    return {**ident, "run_id": fingerprint(ident)[:16], "system_id": system_id(ident["parameters"]),
            "version": _version(),
            "heat_convention": HEAT_CONVENTION,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def describe_difference(old: dict, new: dict) -> str:
    """The first field in which two run identities differ, for error messages."""
    for key in ("model", "seed", "trajectories", "reverse", "format", "tilt"):
        if old.get(key) != new.get(key):
            return f"{key}: {old.get(key)!r} there, {new.get(key)!r} here"
    old_p, new_p = old.get("parameters", {}), new.get("parameters", {})
    for key in sorted(set(old_p) | set(new_p)):
        if old_p.get(key) != new_p.get(key):
            return f"{key}: {old_p.get(key)!r} there, {new_p.get(key)!r} here"
    return "identity differs"


def decorate(frame: pd.DataFrame, info: dict) -> pd.DataFrame:
    """Prefix model, run_id, system_id and the model's scalar parameter columns
    (``Model.table_parameters``) so tables of many runs concatenate; the whole system stays in
    run.json (and the tables' schema metadata), once."""
    parameters = info["parameters"]
    columns = {"model": info["model"], "run_id": info["run_id"], "system_id": system_id(parameters),
               **MODELS[info["model"]].table_parameters(parameters)}
    prefix = pd.DataFrame({key: [value] * len(frame) for key, value in columns.items()},
                          index=frame.index)
    return pd.concat([prefix, frame.drop(columns=[c for c in columns if c in frame])], axis=1)


@dataclass
class Run:
    """One run: ``info`` (run.json content) and its tables (pandas DataFrames).

    ``directory`` is where it was read from or saved to (None for a run held in memory only);
    ``samples`` the per-trajectory rows if they were saved (read from disk when first asked for).
    """

    info: dict
    tables: dict[str, pd.DataFrame]
    directory: Path | None = None
    _samples: pd.DataFrame | None = field(default=None, repr=False)

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
    def name(self) -> str:
        """The run's folder name (its run_id when it lives in memory only)."""
        return self.directory.name if self.directory is not None else self.info["run_id"]

    @property
    def elapsed_seconds(self) -> float | None:
        """Wall-clock seconds spent sampling (chunks resumed from disk not included)."""
        return self.info.get("elapsed_seconds")

    @property
    def trajectories_per_second(self) -> float | None:
        """Trajectories sampled per wall-clock second, all directions."""
        return self.info.get("trajectories_per_second")

    @property
    def samples(self) -> pd.DataFrame | None:
        """Per-trajectory rows (columns model, run_id, direction, trajectory, ...) or None."""
        if self._samples is None and self.directory is not None and self.info.get("save_samples"):
            self._samples = io.read_samples(self.directory, self.info.get("files"))
        return self._samples

    @property
    def passed(self) -> bool:
        """Whether no check of the run failed."""
        return not bool((verdicts(self.checks) == "failed").any())

    @property
    def spec(self):
        return MODELS[self.info["model"]].from_parameters(self.info["parameters"])

    def save(self, path) -> Path:
        """Write every table (atomically) and then run.json, with their SHA-256, under ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        files = {key: value for key, value in self.info.get("files", {}).items()
                 if not key.endswith(".parquet") or "/" in key}
        stamp = table_stamp(self.info)
        for name, frame in self.tables.items():
            files[f"{name}.parquet"] = io.write_table(frame, path / f"{name}.parquet", stamp)
        self.info = {**self.info, "files": dict(sorted(files.items()))}
        io.write_json(path / io.RUN_FILE, self.info)
        self.directory = path
        return path


#: largest ``parameters`` (as JSON) that every table repeats in its schema metadata; a larger system
#: (a d = 40 open system is ~100 MB of matrices) is stored once, in run.json
MAX_STAMPED_PARAMETERS = 1 << 16


def table_stamp(info: dict) -> dict:
    """What every table carries as metadata: run.json without the file hashes (which include the
    table's own).  Parameters larger than ``MAX_STAMPED_PARAMETERS`` bytes of JSON are replaced by
    the table's scalar parameter columns and ``parameters_in: "run.json"`` (Parquet readers refuse
    schema metadata of many MB); ``system_id`` still names the system."""
    stamp = {key: value for key, value in info.items() if key != "files"}
    parameters = stamp.get("parameters", {})
    if len(json.dumps(parameters, sort_keys=True)) > MAX_STAMPED_PARAMETERS:
        stamp["parameters"] = MODELS[info["model"]].table_parameters(parameters)
        stamp["parameters_in"] = "run.json"
    return stamp


def verdicts(checks: pd.DataFrame) -> pd.Series:
    """passed / failed / inconclusive / not applicable per check row (from the ``verdict`` column, or from the
    boolean ``passed`` column of tables written before verdicts existed)."""
    if "verdict" in checks:
        return checks["verdict"].astype(str)
    return checks["passed"].map({True: "passed", False: "failed"}).astype(str)


def decided_by_reweighting(checks: pd.DataFrame) -> pd.Series:
    """Rows of a tilted run's plain ensemble (``tilt`` "") that are inconclusive but decided by the
    run's reweighted row of the same check and direction (``tilt`` "...(reweighted)", passed or
    failed): plain sampling could not reach the paths that carry the average, the tilts did.
    ``mcthermo check --strict`` does not count them as inconclusive."""
    if "tilt" not in checks or checks.empty:
        return pd.Series(False, index=checks.index)
    keys = [c for c in ("run_id", "check", "direction") if c in checks]
    states = verdicts(checks)
    tilt = checks["tilt"].fillna("").astype(str)
    reweighted = checks[tilt.str.endswith("(reweighted)") & states.isin(["passed", "failed"])]
    decided = set(map(tuple, reweighted[keys].astype(str).to_numpy()))
    plain = (tilt == "") & (states == "inconclusive")
    return plain & pd.Series([tuple(row) in decided for row in checks[keys].astype(str).to_numpy()],
                             index=checks.index)


def verdict_table(checks: pd.DataFrame) -> str:
    """A readable verdict table: one line per check, runs named by their folder."""
    lines = []
    by_run = "run" in checks and checks["run"].nunique() > 1
    width = max([len(str(name)) for name in checks["run"]] + [3]) + 2 if by_run else 0
    check_width = max([len(str(name)) for name in checks["check"]] + [15]) + 2
    observable_width = max([len(str(name)) for name in checks["observable"]] + [17]) + 2
    header = f"{'run':<{width}}" if by_run else ""
    header += (f"{'check':<{check_width}}{'direction':<10}{'observable':<{observable_width}}"
               f"{'estimate':>24}{'expected':>14}{'z':>8}  verdict")
    lines.append(header)
    states = verdicts(checks)
    for row, state in zip(checks.itertuples(index=False), states):
        prefix = f"{row.run:<{width}}" if by_run else ""
        estimate = f"{row.estimate:.6g} ± {row.stderr:.2g}" if np.isfinite(row.stderr) else f"{row.estimate:.6g}"
        verdict = {"passed": "passed", "failed": f"FAILED (|z| > {row.threshold:g})"}.get(state, state)
        if state in ("inconclusive", "not applicable") and getattr(row, "reason", ""):
            verdict += f": {row.reason}"
        tilt = getattr(row, "tilt", "")
        if isinstance(tilt, str) and tilt:  # a tilted run's tilted or reweighted row
            verdict += f"  [tilt {tilt}]"
        lines.append(f"{prefix}{row.check:<{check_width}}{row.direction:<10}"
                     f"{row.observable:<{observable_width}}{estimate:>24}"
                     f"{row.expected:>14.6g}{row.z:>8.2f}  {verdict}")
    lines.append(tally(states))
    return "\n".join(lines)


def tally(states: pd.Series) -> str:
    """"N passed, N failed, N inconclusive" of a series of verdicts, and ", N not applicable" when
    some checks do not apply (counted apart: they are neither a success nor an open question)."""
    counts = states.value_counts()
    text = (f"{counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
            f"{counts.get('inconclusive', 0)} inconclusive")
    if counts.get("not applicable", 0):
        text += f", {counts['not applicable']} not applicable"
    return text


@dataclass
class Collection:
    """Several runs (a sweep or the demo): tables concatenated into tidy frames."""

    runs: list[Run]
    #: run folders found under a sweep directory that its sweep file no longer lists (not read)
    stale: list[Path] = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame:
        """One table of every run, concatenated; column ``run`` names each row's run folder."""
        frames = [run.tables[name].assign(run=run.name)[["run", *run.tables[name].columns]]
                  for run in self.runs if name in run.tables]
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

    @property
    def samples(self) -> pd.DataFrame | None:
        frames = [run.samples for run in self.runs if run.samples is not None]
        return pd.concat(frames, ignore_index=True) if frames else None


def read_run(path) -> Run:
    """One run directory, every table checked against the SHA-256 recorded in run.json."""
    path = Path(path)
    info = io.read_json(path / io.RUN_FILE)
    if info.get("status", "complete") != "complete":
        raise io.MCThermoFileError(f"{path}: run not finished (rerun the same command to resume it)")
    files = info.get("files")
    if files is None:  # written before content hashes existed
        names = [table_path.name for table_path in sorted(path.glob("*.parquet"))]
    else:
        names = [name for name in files if name.endswith(".parquet") and "/" not in name]
    tables = {}
    for name in names:
        if files is not None:
            io.verify(path / name, files[name])
        tables[Path(name).stem] = io.read_table(path / name)
    missing = [name for name in BASE_TABLES if name not in tables]
    if missing:
        raise io.MCThermoFileError(f"{path}: run lacks table(s) {', '.join(missing)}")
    return Run(info, tables, directory=path)


SWEEP_FILE = "sweep.json"


def read_sweep_listing(path: Path) -> tuple[list[Path], list[Path]]:
    """(run folders the sweep lists, run folders under it that it no longer lists)."""
    try:
        points = [path / name for name in json.loads((path / SWEEP_FILE).read_text())["points"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise io.MCThermoFileError(f"{path / SWEEP_FILE}: not a readable sweep listing ({error})") from None
    listed = {p.resolve() for p in points}
    stale = [run_file.parent for run_file in sorted(path.glob(f"*/{io.RUN_FILE}"))
             if run_file.parent.resolve() not in listed]
    return points, stale


def read(path, table: str | None = None):
    """Read a run directory (-> Run) or a directory of runs (-> Collection, tables concatenated).

    With ``table`` ("histogram", "summary", "checks", or an extra table) return that DataFrame.
    """
    if not isinstance(path, (str, Path)):
        raise ValueError(f"read needs a directory path (got {type(path).__name__})")
    path = Path(path)
    if (path / io.RUN_FILE).exists():
        result = read_run(path)
    elif (path / SWEEP_FILE).exists():  # a sweep: its current points only, the others reported
        points, stale = read_sweep_listing(path)
        result = Collection([read_run(point) for point in points], stale)
    else:
        run_files = sorted(path.rglob(io.RUN_FILE)) if path.is_dir() else []
        if not run_files:
            raise io.MCThermoFileError(f"{path}: no mcthermo run here (no {io.RUN_FILE} found)")
        result = Collection([read_run(run_file.parent) for run_file in run_files])
    if table is None:
        return result
    return result.table(table) if isinstance(result, Collection) else result.tables[table]
