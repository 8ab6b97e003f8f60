"""The embedded default job (`mcthermo demo`): every model at modest size, under data/demo --
the three seed models, a user-defined open system (a three-level maser) and user-defined stroke
protocols (Otto engines on two levels and on a truncated harmonic ladder)."""
from __future__ import annotations

from pathlib import Path

from .examples import ladder_otto, maser, two_level_otto
from .models import DrivenQubit, LandauZener, Staircase
from .runner import sample

#: (directory name, spec, trajectories, seed, reverse)
DEMO_RUNS = [
    *[(f"staircase-n{n}", Staircase(steps=n), 1_000_000, 2026 + n, True) for n in (1, 5, 20, 100, 1000)],
    ("lz-seed", LandauZener(), 1_000_000, 7, True),
    ("qubit-ground", DrivenQubit(), 400_000, 11, False),
    ("maser", maser(), 100_000, 13, False),
    ("otto-two-level", two_level_otto(cycles=5), 1_000_000, 17, False),
    ("otto-ladder", ladder_otto(levels=6, cycles=3), 1_000_000, 19, False),
]


def run_demo(out="data/demo", progress=True):
    """Sample every demo run (resuming what is already on disk) and return {name: Run}."""
    out = Path(out)
    if (out / "run.json").exists():
        raise ValueError(f"--out {out} is a run directory; the demo writes several runs under a "
                         "directory of its own")
    runs = {}
    for name, spec, trajectories, seed, reverse in DEMO_RUNS:
        runs[name] = sample(spec, trajectories, seed, reverse, out=out / name, progress=progress)
    return runs
