"""The Parquet contract: one run = one directory (see README, "Output").

    <out>/run.json            identity (model, parameters, seed, trajectories, reverse, format),
                              run_id, version, created, status ("running" | "complete"),
                              elapsed_seconds, trajectories_per_second, save_samples and, once
                              complete, ``files``: the SHA-256 of every table, chunk and sample file
    <out>/histogram.parquet   one row per (direction, observable, value)
    <out>/summary.parquet     one row per (direction, observable); ``condition`` names the
                              condition of a conditioned observable ("" otherwise)
    <out>/checks.parquet      one row per check
    <out>/<extra>.parquet     model tables (crossings, bloch, thermo, ...)
    <out>/chunks/<direction>-<first>-<count>.npz   per-chunk accumulators (resume and merge)
    <out>/chunks/manifest.jsonl                    SHA-256 of each chunk (and its samples) as written
    <out>/samples/<direction>-<first>.parquet      optional per-trajectory rows
    <out>/.lock               held by the one process writing the run

Every table carries the run's identity (run.json without ``files``) as schema metadata under key
b"mcthermo" and Parquet page checksums.  Every write goes to a temporary file in the same directory,
is flushed to disk and renamed over the target, so a crash never leaves a partial file behind; the
SHA-256 of the bytes written is returned, recorded and checked on every read, merge and resume.
"""
from __future__ import annotations

import hashlib
import io as _bytes_io
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"mcthermo"
RUN_FILE = "run.json"
MANIFEST = "manifest.jsonl"
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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bytes(path, data: bytes) -> str:
    """Write ``data`` atomically to ``path``; its SHA-256."""
    with atomic_path(Path(path), Path(path).suffix) as tmp:
        tmp.write_bytes(data)
    return sha256(data)


def write_table(frame: pd.DataFrame, path, run_info: dict) -> str:
    """Write ``frame`` as Parquet (page checksums on) with ``run_info`` in the schema metadata,
    atomically; the SHA-256 of the file."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = json.dumps(run_info, sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    buffer = _bytes_io.BytesIO()
    pq.write_table(table, buffer, write_page_checksum=True)
    return write_bytes(path, buffer.getvalue())


def verify(path, expected_sha256: str | None) -> None:
    """Refuse a file whose content differs from the SHA-256 recorded when it was written."""
    path = Path(path)
    if not path.exists():
        raise MCThermoFileError(f"{path}: no such file (listed in {RUN_FILE})")
    if expected_sha256 is not None and file_sha256(path) != expected_sha256:
        raise MCThermoFileError(f"{path}: damaged or edited (content hash differs from the one "
                                "recorded when it was written)")


#: what a damaged Parquet file raises at the Arrow, page-checksum or pandas-metadata level
_TABLE_DAMAGE = (pa.ArrowException, OSError, ValueError, KeyError, TypeError)


def read_table(path, kind: str | None = None) -> pd.DataFrame:
    """Read one mcthermo table, checking that it is Parquet, ours, and has the columns of its kind."""
    path = Path(path)
    if not path.exists():
        raise MCThermoFileError(f"{path}: no such file")
    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except _TABLE_DAMAGE as error:
        raise MCThermoFileError(f"{path}: not a readable Parquet file ({error})") from None
    metadata = table.schema.metadata or {}
    if METADATA_KEY not in metadata:
        raise MCThermoFileError(f"{path}: Parquet file without mcthermo metadata (not written by mcthermo)")
    kind = kind or path.stem
    missing = [c for c in REQUIRED_COLUMNS.get(kind, []) if c not in table.column_names]
    if missing:
        raise MCThermoFileError(f"{path}: {kind} table lacks column(s) {', '.join(missing)}")
    try:
        return table.to_pandas()
    except _TABLE_DAMAGE as error:  # damaged pandas schema metadata
        raise MCThermoFileError(f"{path}: damaged table metadata ({type(error).__name__}: {error})") from None


def table_metadata(path) -> dict:
    """The run.json stored in a table's schema metadata."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as error:
        raise MCThermoFileError(f"{path}: not a readable Parquet file ({error})") from None
    if METADATA_KEY not in metadata:
        raise MCThermoFileError(f"{path}: Parquet file without mcthermo metadata")
    return json.loads(metadata[METADATA_KEY])


def read_samples(directory, files: dict | None = None) -> pd.DataFrame | None:
    """The per-trajectory rows under ``<directory>/samples`` (None if there are none), each file
    checked against its recorded SHA-256; ordered by direction and trajectory."""
    paths = sorted((Path(directory) / "samples").glob("*.parquet"))
    if not paths:
        return None
    for path in paths:
        verify(path, (files or {}).get(f"samples/{path.name}"))
    return pd.concat([read_table(path, "samples") for path in paths], ignore_index=True)


# --- chunk accumulators ---------------------------------------------------------------------
#: Bumped whenever a chunk's content changes for the same run identity, including how a sampler
#: consumes its random streams (2: the chain kernel's 16-bit lanes; 3: the header names the chunk's
#: direction, first index and count; 4: the driven qubit on the generic jump engine, its
#: accumulators and draws, and the jump engine's mixture-of-exponentials waiting times; 5: a tilted
#: jump system's weighted sums carry each ensemble's own importance weights and the Crooks
#: midpoint row), so that a resumed run never mixes chunks of two samplers.
CHUNK_FORMAT = 5
_DAMAGE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def write_chunk(path, accumulator: dict[str, np.ndarray], fingerprint: str, direction: str,
                first: int, count: int) -> str:
    """One chunk's accumulators as .npz with a header (run fingerprint, format, direction, first,
    count), atomically; the SHA-256 of the file."""
    header = json.dumps({"format": CHUNK_FORMAT, "fingerprint": fingerprint, "direction": direction,
                         "first": int(first), "count": int(count)})
    buffer = _bytes_io.BytesIO()
    np.savez(buffer, __header__=np.array(header), **accumulator)
    return write_bytes(path, buffer.getvalue())


def read_chunk(path, fingerprint: str, expected: tuple[str, int, int] | None = None,
               sha256: str | None = None) -> dict[str, np.ndarray]:
    """A chunk's accumulators, refused unless its header matches the run ``fingerprint`` and the
    (direction, first, count) its name and the plan give, and its bytes the recorded SHA-256."""
    path = Path(path)
    if sha256 is not None:
        verify(path, sha256)
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            header = json.loads(str(archive["__header__"]))
            content = {key: archive[key] for key in archive.files if key != "__header__"}
    except _DAMAGE as error:  # damage at the zip, npy or json level
        raise MCThermoFileError(f"{path}: damaged chunk file ({type(error).__name__}: {error}); "
                                "delete it to resample that chunk") from None
    if header.get("format") != CHUNK_FORMAT:
        raise MCThermoFileError(f"{path}: chunk format {header.get('format')} from another mcthermo "
                                f"version (this one writes {CHUNK_FORMAT}); delete the chunks/ folder")
    if header.get("fingerprint") != fingerprint:
        raise MCThermoFileError(f"{path}: chunk of a different run (fingerprint mismatch)")
    if expected is not None and (header.get("direction"), header.get("first"), header.get("count")) \
            != tuple(expected):
        raise MCThermoFileError(f"{path}: chunk holds {header.get('direction')} trajectories "
                                f"{header.get('first')} + {header.get('count')}, not what its name says; "
                                "delete it to resample that chunk")
    return content


def append_manifest(chunk_dir, entries: dict[str, str]) -> None:
    """Record the SHA-256 of freshly written files (names relative to the run directory) in the
    append-only chunk manifest, flushed to disk."""
    chunk_dir = Path(chunk_dir)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    with open(chunk_dir / MANIFEST, "a") as handle:
        handle.write(json.dumps(entries, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_manifest(chunk_dir) -> dict[str, str]:
    """{relative file name: SHA-256} of the chunk manifest; a last line cut short by a crash is
    ignored (its chunk is sampled again)."""
    path = Path(chunk_dir) / MANIFEST
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        try:
            out.update(json.loads(line))
        except ValueError:
            continue
    return out
