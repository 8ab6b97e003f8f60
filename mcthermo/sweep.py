"""Parameter sweeps from a TOML file (`mcthermo run sweep.toml`): one resumable run directory per point.

    model = "staircase"            # a registered model, or "FILE.py:FACTORY" (a function of the
                                   # swept and fixed keyword arguments returning a model)
    trajectories = 200000          # per point and direction
    seed = 7                       # sweep seed: each point's seed derives from it and the point's
                                   # parameters, so a point keeps its seed when the sweep is edited
    reverse = false
    out = "data/sweeps/staircase"  # default: data/sweeps/<file name without .toml>
    combine = "product"            # or "zip": how several swept parameters combine

    [parameters]                   # fixed parameters (names as in run.json); the rest default
    beta = 1.0

    [sweep]                        # swept parameters: a list, or a range
    steps = [1, 5, 25, 125]
    # gap_end = {start = 1.0, stop = 2.0, num = 5}                       (linear)
    # steps = {start = 1, stop = 15625, num = 7, scale = "log", integer = true}

A point's folder is named by its swept values and the first digits of its run id
(``steps=25-3fa2b1c0``), both functions of its parameters alone: editing the sweep reuses unchanged
points bit for bit and adds new ones.  ``<out>/sweep.json`` lists the current points;
``mcthermo.read(out)`` reads those only and reports folders of points no longer in the file
(``--prune`` deletes them).  Duplicate points and a parameter both fixed and swept are refused.
"""
from __future__ import annotations

import itertools
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import io
from .loader import is_reference, load_object, as_model
from .models import MODELS
from .run import SWEEP_FILE, fingerprint, identity, read_sweep_listing

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

_KEYS = {"model", "trajectories", "seed", "reverse", "out", "combine", "parameters", "sweep"}
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Sweep:
    """The points of a sweep (spec, folder name, seed) and the run settings shared by all."""

    name: str
    specs: list
    labels: list[str]
    seeds: list[int]
    trajectories: int
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


def point_seed(sweep_seed: int, spec) -> int:
    """A point's run seed: a function of the sweep seed and the point's model and parameters only."""
    key = fingerprint({"sweep_seed": int(sweep_seed), "model": spec.name, "parameters": spec.parameters()})
    return int(key[:16], 16) & MAX_SEED


def _builder(path: Path, model):
    """(function of a parameter dict -> spec, default parameters or None if unknown)."""
    if isinstance(model, str) and is_reference(model):
        factory = load_object(model, base=path.parent)
        return (lambda parameters: as_model(factory, model, **parameters)), None
    if model not in MODELS:
        raise ValueError(f"{path}: model must be one of {', '.join(MODELS)} or FILE.py:FACTORY "
                         f"(got {model!r})")
    cls = MODELS[model]
    try:
        defaults = cls().parameters()
    except (TypeError, ValueError):  # no defaults: a system written in Python (mt.Strokes, mt.OpenSystem)
        raise ValueError(f"{path}: model {model!r} is written in Python: sweep it with model = "
                         f"\"FILE.py:FACTORY\", FACTORY a function of the swept parameters returning an "
                         f"mt.{cls.__name__}") from None
    return (lambda parameters: cls.from_parameters({**defaults, **parameters})), defaults


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
    build, defaults = _builder(path, content.get("model"))
    fixed = content.get("parameters", {})
    swept = {name: _values(name, entry) for name, entry in content.get("sweep", {}).items()}
    both = sorted(set(fixed) & set(swept))
    if both:
        raise ValueError(f"{path}: {', '.join(both)} given both under [parameters] and [sweep]; keep one")
    for name in [*fixed, *swept] if defaults is not None else []:
        if name not in defaults:
            raise ValueError(f"{path}: {content['model']} has no parameter {name!r} "
                             f"(parameters: {', '.join(defaults)})")
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
    trajectories, seed = content.get("trajectories", 100_000), content.get("seed", 0)
    if isinstance(trajectories, bool) or not isinstance(trajectories, int) or not 1 <= trajectories <= MAX_SEED:
        raise ValueError(f"{path}: trajectories must be an integer in [1, 2**63 - 1] (got {trajectories!r})")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{path}: seed must be an integer in [0, 2**63 - 1] (got {seed!r})")
    reverse = bool(content.get("reverse", False))
    specs, labels, seeds, seen = [], [], [], {}
    for point in points:
        try:
            spec = build({**fixed, **point})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: point {_label(point)}: {error}") from None
        key = fingerprint({"model": spec.name, "parameters": spec.parameters()})
        if key in seen:
            raise ValueError(f"{path}: points {seen[key]} and {_label(point)} are the same point "
                             "(duplicate values, e.g. an integer range rounding two values together)")
        seen[key] = _label(point)
        point_seed_ = point_seed(seed, spec)
        run_id = fingerprint(identity(spec, point_seed_, trajectories, reverse))[:8]
        specs.append(spec)
        seeds.append(point_seed_)
        labels.append(f"{_label(point)}-{run_id}" if point else f"point-{run_id}")
    out = Path(content.get("out", Path("data") / "sweeps" / path.stem))
    return Sweep(path.stem, specs, labels, seeds, trajectories, reverse, out)


def run_sweep(sweep: Sweep, out=None, prune: bool = False, **options):
    """Sample every point (resuming finished ones) and return {folder: Run}; options go to sample().

    Folders of points no longer in the sweep are reported on stderr and kept, or deleted with
    ``prune``; ``<out>/sweep.json`` lists the current points (what ``mcthermo.read(out)`` reads).
    """
    from .runner import sample

    out = Path(out) if out is not None else sweep.out
    if options.get("scheduler") == "local":  # one LocalCluster for the whole sweep
        from .distributed import local_cluster

        with local_cluster() as address:
            return run_sweep(sweep, out, prune, **{**options, "scheduler": address})
    if out.exists() and (out / io.RUN_FILE).exists():
        raise ValueError(f"--out {out} is a run directory; a sweep writes its runs under a directory of its own")
    io.write_json(out / SWEEP_FILE, {"model": sweep.specs[0].name, "name": sweep.name,
                                     "points": sweep.labels})
    _, stale = read_sweep_listing(out)
    for folder in stale:
        if prune:
            shutil.rmtree(folder)
        print(f"mcthermo: {folder} is no longer a point of the sweep: "
              + ("deleted (--prune)" if prune else "kept but not read as part of it (--prune deletes it)"),
              file=sys.stderr)
    return {label: sample(spec, sweep.trajectories, seed, sweep.reverse, out=out / label, **options)
            for label, spec, seed in zip(sweep.labels, sweep.specs, sweep.seeds)}
