"""Runs that could run away are sized before anything is computed (issue #22 B)."""
import numpy as np
import pytest

import mcthermo as mt
from mcthermo.runner import resolve_chunk_size
from mcthermo.systems import stroke_engine


def test_sizing_a_chunk_never_builds_the_exact_law(monkeypatch):
    """Strokes(cycles=10**4) used to spend > 90 s in resolve_chunk_size -> log_sparse_pmf."""
    def forbidden(*args, **kwargs):
        raise AssertionError("resolve_chunk_size built the exact law")

    monkeypatch.setattr(stroke_engine, "log_sparse_pmf", forbidden)
    monkeypatch.setattr(stroke_engine, "log_joint_pmf", forbidden)
    engine = mt.examples.two_level_otto(cycles=10**4)
    assert resolve_chunk_size(engine, None) > 0


@pytest.mark.parametrize("make", [lambda: mt.examples.two_level_otto(cycles=3),
                                  lambda: mt.examples.ladder_otto(levels=4, cycles=2)])
def test_draws_per_trajectory_are_those_of_the_kernel_tables(make):
    engine = make().engine("forward")
    assert engine.steps_per_trajectory() == engine.tables.steps == engine.moment_tables.steps
