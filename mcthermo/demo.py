"""The embedded default job (`mcthermo demo`): every model at modest size, under data/demo --
the three seed models, a user-defined open system (a three-level maser) and user-defined stroke
protocols (Otto engines on two levels and on a truncated harmonic ladder)."""
from __future__ import annotations

from pathlib import Path

from .examples import ladder_otto, maser, two_level_otto
from .models import DrivenQubit, LandauZener, Staircase
from .systems.bath import Bath
from .runner import sample

#: (directory name, spec, trajectories, seed, reverse)
DEMO_RUNS = [
    *[(f"staircase-n{n}", Staircase(steps=n), 1_000_000, 2026 + n, True) for n in (1, 5, 20, 100, 1000)],
    ("lz-seed", LandauZener(), 1_000_000, 7, True),
    # a photon bath at T = 10 (the default T = 2 makes <e^-sigma> carried by paths of probability
    # ~1e-9: no sample of a demo's size can test the integral fluctuation theorem there)
    ("qubit-ground", DrivenQubit(photon_bath=Bath(coupling=0.002, temperature=10.0, cutoff=30.0)),
     400_000, 11, False),
    ("maser", maser(), 100_000, 13, False),
    ("otto-two-level", two_level_otto(cycles=5), 1_000_000, 17, False),
    # hot and cold baths at T = 2 and 1: <e^-sigma> has relative variance 0.39 (at T = 5 and 0.5,
    # 5.4e7: untestable at any demo size)
    ("otto-ladder", ladder_otto(levels=5, cycles=2, beta_hot=0.5, beta_cold=1.0), 1_000_000, 19, False),
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
