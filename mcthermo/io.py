"""The Parquet contract: one run = one directory (see README, "Output").

    <out>/run.json            parameters, seed, trajectories, version, created
    <out>/histogram.parquet   one row per (direction, observable, value)
    <out>/summary.parquet     one row per (direction, observable)
    <out>/checks.parquet      one row per check
    <out>/<extra>.parquet     model tables (crossings, bloch, thermo, ...)
    <out>/chunks/             per-chunk accumulators (resume and merge)
    <out>/samples/            optional per-trajectory rows (part-*.parquet)

Every table carries run.json as schema metadata under key b"mcthermo".  Every write goes to a
temporary file in the same directory, is flushed to disk and renamed over the target, so a crash
never leaves a partial table behind.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"mcthermo"
RUN_FILE = "run.json"
#: columns every table of each kind must have (beyond the parameter columns)
REQUIRED_COLUMNS = {
    "histogram": ["model", "run_id", "direction", "observable", "value", "bin_low", "bin_high",
                  "count", "probability", "probability_exact"],
    "summary": ["model", "run_id", "direction", "observable", "trajectories", "mean", "std",
                "stderr", "mean_exact", "std_exact"],
    "checks": ["model", "run_id", "check", "direction", "estimate", "expected", "stderr", "ci_low",
               "ci_high", "z", "passed", "trajectories"],
}


class MCThermoFileError(Exception):
    """A file that is missing, damaged or not written by mcthermo; the message names the file."""


@contextmanager
def atomic_path(target: Path, suffix: str = ""):
    """Yield a temporary path next to ``target``; on success fsync it and rename it over ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results are meant to be shared
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_json(path, content: dict) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def read_json(path) -> dict:
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise MCThermoFileError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise MCThermoFileError(f"{path}: not a readable JSON run description ({error})") from None
    if not isinstance(content, dict) or "model" not in content or "parameters" not in content:
        raise MCThermoFileError(f"{path}: not an mcthermo run description (no model/parameters)")
    return content


def write_table(frame: pd.DataFrame, path, run_info: dict) -> None:
    """Write ``frame`` as Parquet with ``run_info`` (run.json) in the schema metadata, atomically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = json.dumps(run_info, sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    with atomic_path(Path(path), ".parquet") as tmp:
        pq.write_table(table, tmp)


def read_table(path, kind: str | None = None) -> pd.DataFrame:
    """Read one mcthermo table, checking that it is Parquet, ours, and has the columns of its kind."""
    path = Path(path)
    if not path.exists():
        raise MCThermoFileError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise MCThermoFileError(f"{path}: not a readable Parquet file ({error})") from None
    metadata = table.schema.metadata or {}
    if METADATA_KEY not in metadata:
        raise MCThermoFileError(f"{path}: Parquet file without mcthermo metadata (not written by mcthermo)")
    kind = kind or path.stem
    missing = [c for c in REQUIRED_COLUMNS.get(kind, []) if c not in table.column_names]
    if missing:
        raise MCThermoFileError(f"{path}: {kind} table lacks column(s) {', '.join(missing)}")
    return table.to_pandas()


def table_metadata(path) -> dict:
    """The run.json stored in a table's schema metadata."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as error:
        raise MCThermoFileError(f"{path}: not a readable Parquet file ({error})") from None
    if METADATA_KEY not in metadata:
        raise MCThermoFileError(f"{path}: Parquet file without mcthermo metadata")
    return json.loads(metadata[METADATA_KEY])


# --- chunk accumulators ---------------------------------------------------------------------
#: Bumped whenever a chunk's content changes for the same run identity, including how a sampler
#: consumes its random streams (2: the chain kernel's 16-bit lanes), so that a resumed run never
#: mixes chunks of two samplers.
CHUNK_FORMAT = 2


def write_chunk(path, accumulator: dict[str, np.ndarray], fingerprint: str) -> None:
    """One chunk's accumulators as .npz, with the run fingerprint and chunk format version."""
    header = json.dumps({"format": CHUNK_FORMAT, "fingerprint": fingerprint})
    with atomic_path(Path(path), ".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, __header__=np.array(header), **accumulator)


def read_chunk(path, fingerprint: str) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            header = json.loads(str(archive["__header__"]))
            content = {key: archive[key] for key in archive.files if key != "__header__"}
    except Exception as error:  # any damage: zip, npy or json level
        raise MCThermoFileError(f"{path}: damaged chunk file ({type(error).__name__}: {error}); "
                                "delete it to resample that chunk") from None
    if header.get("format") != CHUNK_FORMAT:
        raise MCThermoFileError(f"{path}: chunk format {header.get('format')} from another mcthermo "
                                f"version (this one writes {CHUNK_FORMAT}); delete the chunks/ folder")
    if header.get("fingerprint") != fingerprint:
        raise MCThermoFileError(f"{path}: chunk of a different run (fingerprint mismatch)")
    return content
