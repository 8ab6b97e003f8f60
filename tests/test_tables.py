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
    assert checks.iloc[0]["verdict"] == "not applicable"
    assert "no reverse partner" in checks.iloc[0]["reason"]
    assert checks.iloc[1]["passed"]


def test_first_law_violation_fails():
    declared = DirectionResults([], exact_counts=[ExactCount("first_law", "energy", 3, 1000)])
    checks = build(Results({"forward": declared}))["checks"]
    assert not checks.iloc[0]["passed"]


def _stored(name):
    return pd.read_parquet(Path(__file__).parent / "data" / f"{name}-0.2.0-histogram.parquet")


@pytest.mark.parametrize("name", ["staircase", "lz"])
def test_histograms_bit_identical_to_version_0_2(name):
    """Counts of the seed models for a fixed seed equal those of mcthermo 0.2.0 (stored under
    tests/data)."""
    specs = {"staircase": (mt.Staircase(steps=20), True, 200_000),
             "lz": (mt.LandauZener(), True, 200_000)}
    spec, reverse, trajectories = specs[name]
    run = mt.sample(spec, trajectories, 5, reverse=reverse)
    old = _stored(name)
    new = run.histogram[old.columns.intersection(run.histogram.columns)]
    key = ["direction", "observable", "value"]
    old = old[key + ["count"]].sort_values(key).reset_index(drop=True)
    new = new[key + ["count"]].sort_values(key).reset_index(drop=True)
    old["value"] = old["value"].round(12) + 0.0
    new["value"] = new["value"].round(12) + 0.0
    pd.testing.assert_frame_equal(new, old)


def _two_sample(old, new):
    """Per observable: the z-score of the difference of the two samples' means (each stderr from
    its own sample variance) and the p-value of the chi-square test that both histograms come from
    one law (values pooled, from the rarest up, into cells of >= 5 expected counts in each)."""
    from scipy import stats

    out = {}
    for name, a in old.groupby("observable"):
        b = new[new["observable"] == name]
        counts = pd.concat([a.set_index("value")["count"].rename("old"),
                            b.set_index("value")["count"].rename("new")], axis=1).fillna(0.0)
        counts = counts[counts.sum(axis=1) > 0].sort_index()
        values = counts.index.to_numpy()
        n = counts.sum(axis=0).to_numpy()
        means = (values @ counts.to_numpy()) / n
        variances = ((values[:, None] - means) ** 2 * counts.to_numpy()).sum(axis=0) / (n - 1)
        z = (means[1] - means[0]) / np.sqrt((variances / n).sum())
        expected = counts.sum(axis=1).to_numpy()[:, None] * n / n.sum()
        order = np.argsort(expected.min(axis=1))
        cells, current, weight = [], np.zeros(2), np.zeros(2)
        for row in order:
            current, weight = current + counts.to_numpy()[row], weight + expected[row]
            if weight.min() >= 5:
                cells.append(current)
                current, weight = np.zeros(2), np.zeros(2)
        if cells:
            cells[-1] = cells[-1] + current
        p = stats.chi2_contingency(np.array(cells))[1] if len(cells) > 1 else 1.0
        out[name] = (z, p)
    return out


def _qubit_histogram(**changes):
    spec = mt.DrivenQubit(t_end=10.0, times=21, **changes)
    new = mt.sample(spec, 20_000, 5).histogram
    return new[new["count"] > 0]


def test_qubit_histograms_statistically_equal_to_version_0_2():
    """The driven qubit moved from its own kernel (0.2.0) to the generic jump engine: the draws
    differ, so its stored 0.2.0 histograms (20 000 trajectories, seed 5; its heat then had the
    opposite sign) are compared statistically with a new run of the same size: the means of work,
    heat per bath and entropy production by a two-sample z-test from both samples' standard errors
    (|z| < 4; four observables), their histograms by a chi-square test of homogeneity
    (p > 1e-3 / 4).  A run with the photon bath hotter (T = 2.6 instead of 2) is flagged."""
    old = _stored("qubit")
    heat = old["observable"].str.startswith("heat_")
    old.loc[heat, "value"] *= -1.0
    old["value"] = old["value"].round(12) + 0.0
    for result, equal in ((_qubit_histogram(), True), (_qubit_histogram(
            photon_bath=mt.Bath(coupling=0.002, temperature=2.6, cutoff=30.0)), False)):
        result["value"] = result["value"].round(12) + 0.0
        verdicts = _two_sample(old, result)
        assert set(verdicts) == {"work", "heat_photon", "heat_dephasing", "entropy_production"}
        flagged = {name for name, (z, p) in verdicts.items() if abs(z) >= 4 or p <= 1e-3 / 4}
        assert (not flagged) if equal else flagged >= {"heat_photon", "entropy_production"}, verdicts
