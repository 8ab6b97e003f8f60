"""Parameter sweeps from a TOML file (`mcthermo run sweep.toml`): one resumable run directory per point.

    model = "staircase"            # staircase | lz | qubit
    trajectories = 200000          # per point and direction
    seed = 7                       # point i uses seed + i (independent runs)
    reverse = false
    out = "data/sweeps/staircase"  # default: data/sweeps/<file name without .toml>
    combine = "product"            # or "zip": how several swept parameters combine

    [parameters]                   # fixed parameters (names as in run.json); the rest default
    beta = 1.0

    [sweep]                        # swept parameters: a list, or a range
    steps = [1, 5, 25, 125]
    # gap_end = {start = 1.0, stop = 2.0, num = 5}                       (linear)
    # steps = {start = 1, stop = 15625, num = 7, scale = "log", integer = true}

All tables of all points concatenate with ``mcthermo.read(out)`` into tidy frames (every row
carries the point's parameters).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .models import MODELS

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

_KEYS = {"model", "trajectories", "seed", "reverse", "out", "combine", "parameters", "sweep"}


@dataclass(frozen=True)
class Sweep:
    """A list of specs with the run settings shared by all points."""

    name: str
    specs: list
    labels: list[str]
    trajectories: int
    seed: int
    reverse: bool
    out: Path


def _values(name, entry):
    if isinstance(entry, list):
        if not entry:
            raise ValueError(f"sweep.{name}: empty list")
        return entry
    if isinstance(entry, dict):
        unknown = set(entry) - {"start", "stop", "num", "scale", "integer"}
        if unknown or not {"start", "stop", "num"} <= set(entry):
            raise ValueError(f"sweep.{name}: a range needs start, stop, num (and optional scale = "
                             f"'linear' | 'log', integer = true)")
        scale = entry.get("scale", "linear")
        if scale not in ("linear", "log"):
            raise ValueError(f"sweep.{name}.scale must be 'linear' or 'log' (got {scale!r})")
        start, stop, num = entry["start"], entry["stop"], entry["num"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, stop)) \
                or not isinstance(num, int) or isinstance(num, bool) or num < 1:
            raise ValueError(f"sweep.{name}: start and stop must be numbers and num an integer >= 1")
        if scale == "log" and not (start > 0 and stop > 0):
            raise ValueError(f"sweep.{name}: a log range needs start > 0 and stop > 0 "
                             f"(got start = {start}, stop = {stop})")
        space = np.geomspace if scale == "log" else np.linspace
        values = space(start, stop, num)
        return [int(round(v)) for v in values] if entry.get("integer") else [float(v) for v in values]
    raise ValueError(f"sweep.{name}: give a list of values or a {{start, stop, num}} range")


def _label(point: dict) -> str:
    def fmt(value):
        return f"{value:.6g}" if isinstance(value, float) else str(value).replace(" ", "")
    return "-".join(f"{key}={fmt(value)}" for key, value in point.items())


def load_sweep(path) -> Sweep:
    """Parse and validate a sweep file; every point's spec is built (and validated) here."""
    path = Path(path)
    try:
        content = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such sweep file") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    unknown = set(content) - _KEYS
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(_KEYS))})")
    model = content.get("model")
    if model not in MODELS:
        raise ValueError(f"{path}: model must be one of {', '.join(MODELS)} (got {model!r})")
    cls = MODELS[model]
    defaults = cls().parameters()
    fixed = content.get("parameters", {})
    swept = {name: _values(name, entry) for name, entry in content.get("sweep", {}).items()}
    for name in [*fixed, *swept]:
        if name not in defaults:
            raise ValueError(f"{path}: {model} has no parameter {name!r} (parameters: {', '.join(defaults)})")
    combine = content.get("combine", "product")
    if combine == "zip":
        lengths = {len(v) for v in swept.values()}
        if len(lengths) > 1:
            raise ValueError(f"{path}: combine = 'zip' needs equally long sweeps (got lengths {sorted(lengths)})")
        points = [dict(zip(swept, values)) for values in zip(*swept.values())]
    elif combine == "product":
        points = [dict(zip(swept, values)) for values in itertools.product(*swept.values())]
    else:
        raise ValueError(f"{path}: combine must be 'product' or 'zip' (got {combine!r})")
    specs = []
    for point in points:
        try:
            specs.append(cls.from_parameters({**defaults, **fixed, **point}))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: point {_label(point)}: {error}") from None
    trajectories, seed = content.get("trajectories", 100_000), content.get("seed", 0)
    if isinstance(trajectories, bool) or not isinstance(trajectories, int) or trajectories < 1:
        raise ValueError(f"{path}: trajectories must be an integer >= 1 (got {trajectories!r})")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**63 - 1 - len(points):
        raise ValueError(f"{path}: seed must be an integer in [0, 2**63 - 1 - points] (got {seed!r})")
    out = Path(content.get("out", Path("data") / "sweeps" / path.stem))
    labels = [f"{i:03d}-{_label(point)}" if point else f"{i:03d}" for i, point in enumerate(points)]
    return Sweep(path.stem, specs, labels, trajectories, seed, bool(content.get("reverse", False)), out)


def run_sweep(sweep: Sweep, out=None, **options):
    """Sample every point (resuming finished ones) and return {label: Run}; options go to sample()."""
    from .runner import sample

    out = Path(out) if out is not None else sweep.out
    if options.get("scheduler") == "local":  # one LocalCluster for the whole sweep
        from .distributed import local_cluster

        with local_cluster() as address:
            return run_sweep(sweep, out, **{**options, "scheduler": address})
    return {label: sample(spec, sweep.trajectories, sweep.seed + i, sweep.reverse, out=out / label, **options)
            for i, (label, spec) in enumerate(zip(sweep.labels, sweep.specs))}
