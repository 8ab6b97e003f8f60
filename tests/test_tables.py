"""The one table builder: declared results -> histogram / summary / checks, for every model."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mcthermo as mt
from mcthermo.results import DirectionResults, ExactCount, Observable, Results
from mcthermo.tables import build


def _binomial(n_trials, p, trajectories, seed):
    """Counts of a Binomial(n_trials, p) observable and its exact law in log space."""
    from scipy.stats import binom

    values = np.arange(n_trials + 1, dtype=float)
    counts = np.bincount(np.random.default_rng(seed).binomial(n_trials, p, trajectories),
                         minlength=n_trials + 1)
    return values, counts, binom.logpmf(values, n_trials, p)


def test_declared_observables_become_rows_with_their_exact_moments():
    values, counts, log_p = _binomial(10, 0.3, 20_000, seed=1)
    results = Results({"forward": DirectionResults([Observable("jumps_x", values, counts, log_p)])})
    tables = build(results)
    summary = tables["summary"].iloc[0]
    assert summary["mean_exact"] == pytest.approx(3.0, abs=1e-12)
    assert summary["std_exact"] == pytest.approx(np.sqrt(2.1), abs=1e-12)
    assert summary["trajectories"] == 20_000
    assert tables["histogram"]["count"].sum() == 20_000
    np.testing.assert_allclose(tables["histogram"]["probability_exact"], np.exp(log_p), rtol=1e-12)
    checks = tables["checks"].set_index("check")
    assert set(checks.index) == {"mean", "variance", "distribution"}
    assert checks["passed"].all()


def test_a_wrong_exact_law_is_flagged():
    values, counts, _ = _binomial(10, 0.3, 20_000, seed=2)
    from scipy.stats import binom

    wrong = binom.logpmf(values, 10, 0.32)
    tables = build(Results({"forward": DirectionResults([Observable("x", values, counts, wrong)])}))
    checks = tables["checks"].set_index("check")
    assert not checks.loc["mean", "passed"] and not checks.loc["distribution", "passed"]


def test_every_declared_theorem_gets_a_row_even_when_it_does_not_apply():
    values, counts, log_p = _binomial(4, 0.5, 1000, seed=3)
    declared = DirectionResults([Observable("entropy_production", values, counts, log_p, checks=())],
                                integral_ft="a channel has no reverse partner",
                                exact_counts=[ExactCount("first_law", "energy", 0, 1000)])
    checks = build(Results({"forward": declared}))["checks"]
    assert list(checks["check"]) == ["integral_ft", "first_law"]
    assert checks.iloc[0]["verdict"] == "inconclusive"
    assert "no reverse partner" in checks.iloc[0]["reason"]
    assert checks.iloc[1]["passed"]


def test_first_law_violation_fails():
    declared = DirectionResults([], exact_counts=[ExactCount("first_law", "energy", 3, 1000)])
    checks = build(Results({"forward": declared}))["checks"]
    assert not checks.iloc[0]["passed"]


@pytest.mark.parametrize("name", ["staircase", "lz", "qubit"])
def test_histograms_bit_identical_to_version_0_2(name, tmp_path):
    """Counts of the seed models for a fixed seed equal those of mcthermo 0.2.0 (stored under
    tests/data); only the qubit's heat changed sign (the heat convention: heat into the system)."""
    specs = {"staircase": (mt.Staircase(steps=20), True, 200_000),
             "lz": (mt.LandauZener(), True, 200_000),
             "qubit": (mt.DrivenQubit(t_end=10.0, times=21), False, 20_000)}
    spec, reverse, trajectories = specs[name]
    run = mt.sample(spec, trajectories, 5, reverse=reverse)
    old = pd.read_parquet(Path(__file__).parent / "data" / f"{name}-0.2.0-histogram.parquet")
    new = run.histogram[old.columns.intersection(run.histogram.columns)]
    if name == "qubit":
        heat = old["observable"].str.startswith("heat_")
        old.loc[heat, ["value", "bin_low", "bin_high"]] *= -1.0
    key = ["direction", "observable", "value"]
    old = old[key + ["count"]].sort_values(key).reset_index(drop=True)
    new = new[key + ["count"]].sort_values(key).reset_index(drop=True)
    old["value"] = old["value"].round(12) + 0.0
    new["value"] = new["value"].round(12) + 0.0
    pd.testing.assert_frame_equal(new, old)
