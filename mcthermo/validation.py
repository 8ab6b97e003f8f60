"""Validate fluctuation theorems on anyone's work samples: ``mt.validate`` and ``mcthermo validate``.

Work W of a protocol A -> B (``forward``) and of its time reverse B -> A (``reverse``), in energy
units; beta = 1/k_B T (hbar = k_B = 1).  Jarzynski <e^{-beta W}> = e^{-beta dF} per direction,
Crooks P_F(W) / P_R(-W) = e^{beta (W - dF)} and the Bennett acceptance ratio with both.  Every row
has a verdict ("passed", "failed", "inconclusive") and a reason; an estimate that the data cannot
support (few effective samples, bias as large as its error, no overlap) is inconclusive, never a
plausible number passed off as a result.  Without ``free_energy`` the estimates are reported and
only the shape of Crooks' law (log-ratios on a line of slope beta) is tested.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import checks
from .results import Observable
from .run import verdict_table

COLUMNS = ["check", "direction", "observable", "estimate", "stderr", "ci_low", "ci_high",
           "expected", "z", "threshold", "verdict", "reason", "passed", "trajectories",
           "effective_sample_size", "bias", "overlap", "trajectories_needed", "statistic", "dof",
           "p_value"]


def _one_dimensional(name: str, data) -> np.ndarray:
    """``data`` as a 1-d float array; ValueError naming ``name`` for anything else (a table, a 2-d
    array, text): never flattened silently."""
    if isinstance(data, pd.DataFrame):
        raise ValueError(f"{name}: a table is not a list of work values; pass one column "
                         f"(e.g. frame['work'])")
    if isinstance(data, (str, bytes, dict)):
        raise ValueError(f"{name}: expected work values (a 1-d array), got {type(data).__name__}")
    try:
        array = np.asarray(data.to_numpy() if isinstance(data, pd.Series) else data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a 1-d array of numbers (got {type(data).__name__} that is "
                         "not one)") from None
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array of work values or a (values, counts) pair "
                         f"(got an array of shape {array.shape})")
    return array


def work_observable(name, data) -> Observable:
    """Work samples as an Observable: a 1-d array or pandas Series of per-trajectory values, or a
    (values, counts) histogram of two 1-d arrays.  Raises ValueError naming ``name`` on anything
    else (2-d arrays, tables) and on empty or non-finite data."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"{name}: give samples or a (values, counts) pair")
        values = _one_dimensional(f"{name} values", data[0])
        counts = _one_dimensional(f"{name} counts", data[1])
        if counts.shape != values.shape:
            raise ValueError(f"{name}: values and counts need the same length")
        if np.any(counts < 0) or not np.all(np.equal(np.mod(counts, 1), 0)):
            raise ValueError(f"{name}: counts must be non-negative integers")
    else:
        values, counts = np.unique(_one_dimensional(name, data), return_counts=True)
    if values.size == 0 or counts.sum() == 0:
        raise ValueError(f"{name}: no work samples")
    if not np.all(np.isfinite(values[counts > 0])):
        raise ValueError(f"{name}: work values must be finite (found NaN or inf)")
    keep = counts > 0
    return Observable("work", values[keep], counts[keep].astype(np.int64))


def _crooks_bins(forward: Observable, reverse: Observable):
    """None (pair exact atoms W with -W) when most forward mass sits on values the reverse sample
    has at -W; otherwise common bin edges over the range of W_F and -W_R (about sqrt(n)/2 bins)."""
    mirrored = set(np.round(-reverse.values, 9))
    paired = np.isin(np.round(forward.values, 9), list(mirrored))
    if forward.counts[paired].sum() >= 0.5 * forward.n:
        return None
    low = min(forward.values.min(), -reverse.values.max())
    high = max(forward.values.max(), -reverse.values.min())
    bins = int(np.clip(np.sqrt(min(forward.n, reverse.n)) / 2, 5, 200))
    return np.linspace(low, high, bins + 1) if high > low else None


def validate(forward, reverse=None, *, beta, free_energy=None) -> pd.DataFrame:
    """Check Jarzynski (per direction), BAR and Crooks (with ``reverse``) on work samples.

    forward, reverse: arrays, pandas Series or (values, counts) histograms of the work of the
    forward and the time-reversed protocol; beta > 0; free_energy: the exact dF of the forward
    protocol when known.  Returns one row per check with the estimate, stderr, interval, z,
    verdict, reason and diagnostics (effective sample size, bias, overlap, trajectories needed).
    """
    if not (isinstance(beta, (int, float, np.integer, np.floating)) and not isinstance(beta, bool)
            and np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite positive number (got {beta!r})")
    if free_energy is not None and not (isinstance(free_energy, (int, float, np.integer, np.floating))
                                        and not isinstance(free_energy, bool) and np.isfinite(free_energy)):
        raise ValueError(f"free_energy must be a finite number or None (got {free_energy!r})")
    beta = float(beta)
    work = {"forward": work_observable("forward", forward)}
    if reverse is not None:
        work["reverse"] = work_observable("reverse", reverse)
    rows = []
    for direction, obs in work.items():
        sign = 1.0 if direction == "forward" else -1.0
        expected = None if free_energy is None else sign * float(free_energy)
        rows.append(checks.jarzynski_check(direction, obs, beta, expected))
    if reverse is not None:
        rows.append(checks.bar_check(work["forward"], work["reverse"], beta, free_energy))
        rows += checks.crooks_checks(work["forward"], work["reverse"], beta, free_energy,
                                     bins=_crooks_bins(work["forward"], work["reverse"]))
    table = pd.DataFrame(rows)
    return table.reindex(columns=COLUMNS + [c for c in table.columns if c not in COLUMNS])


def exit_code(table: pd.DataFrame, strict: bool = False) -> int:
    """0 when nothing failed, 1 when a check failed (or, with ``strict``, was inconclusive)."""
    bad = {"failed", "inconclusive"} if strict else {"failed"}
    return 1 if table["verdict"].isin(bad).any() else 0


def _read_csv(path):
    """A CSV table; a file of bare numbers in one column (no header row) is read as the column
    ``work`` -- pandas would take its first sample for the column name."""
    table = pd.read_csv(path)
    if len(table.columns) and all(_is_number(name) for name in table.columns):
        if len(table.columns) > 1:
            raise ValueError(f"{path}: no header row (the first line holds numbers): name the "
                             "columns in a first line, e.g. 'work,count'")
        table = pd.read_csv(path, header=None, names=["work"])
    return table


def _is_number(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_work(path, column="work"):
    """Work samples from a Parquet, CSV or .npy file: the ``column`` of a table (with a ``count``
    column, a histogram) or a 1-d array; a CSV of bare numbers in one column (no header row) is
    the column ``work``.  Raises ValueError naming the file on bad input."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
            if data.ndim != 1:
                raise ValueError(f"{path}: expected a 1-d array of work values (shape {data.shape})")
            return data
        table = (pd.read_parquet(path) if suffix in (".parquet", ".pq") else
                 _read_csv(path) if suffix == ".csv" else None)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{path}: cannot read it ({error})") from None
    if table is None:
        raise ValueError(f"{path}: unknown format (use .parquet, .csv or .npy)")
    if column not in table.columns:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(map(str, table.columns))})")
    if table.empty:
        raise ValueError(f"{path}: no work samples")
    if not pd.api.types.is_numeric_dtype(table[column]):
        raise ValueError(f"{path}: column {column!r} is not numeric")
    if "count" in table.columns and column != "count":
        return table[column].to_numpy(dtype=float), table["count"].to_numpy()
    return table[column].to_numpy(dtype=float)


def register(subparsers) -> None:
    """Add ``mcthermo validate FORWARD [REVERSE] --beta B [--column work] [--free-energy F]``."""
    parser = subparsers.add_parser(
        "validate", help="check Jarzynski, Crooks and BAR on work samples from files",
        description="Verdicts (passed / failed / inconclusive) of Jarzynski, BAR and Crooks on work "
                    "samples read from Parquet, CSV or .npy.  Exit 0 when nothing failed, 1 when a "
                    "check failed, 2 on bad input.")
    parser.add_argument("forward", help="work of the forward protocol (.parquet, .csv or .npy)")
    parser.add_argument("reverse", nargs="?", help="work of the time-reversed protocol")
    parser.add_argument("--beta", type=float, required=True, help="inverse temperature 1/k_B T (> 0)")
    parser.add_argument("--column", default="work", help="column holding the work (default work)")
    parser.add_argument("--free-energy", type=float, default=None,
                        help="exact free-energy change of the forward protocol, if known")
    parser.add_argument("--strict", action="store_true", help="also exit 1 on inconclusive checks")


def run(args) -> int:
    """The ``validate`` command: prints the verdict table; exit 0 / 1, or 2 with one line on
    stderr for bad input."""
    try:
        forward = work_observable(args.forward, read_work(args.forward, args.column))
        reverse = (None if args.reverse is None else
                   work_observable(args.reverse, read_work(args.reverse, args.column)))
        table = validate((forward.values, forward.counts),
                         None if reverse is None else (reverse.values, reverse.counts),
                         beta=args.beta, free_energy=args.free_energy)
    except ValueError as error:
        print(f"mcthermo validate: error: {error}", file=sys.stderr)
        return 2
    print(verdict_table(table))
    return exit_code(table, args.strict)
