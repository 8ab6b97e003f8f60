"""The checks are calibrated: intervals cover at their nominal rate, false alarms occur at the
promised rate, and deliberate errors are detected (small version of scripts/calibrate.py)."""
import numpy as np
import pytest
from scipy.stats import binom

from mcthermo import Staircase
from mcthermo.calibration import calibrate, summarize

REPLICATES = 200


@pytest.fixture(scope="module")
def null_summary():
    return summarize(calibrate(Staircase(steps=5), 1000, REPLICATES, seed=1)).set_index(
        ["check", "direction", "observable"])


def test_interval_coverage_is_nominal(null_summary):
    # 95 % intervals: the number covering is Binomial(200, 0.95); accept its central 99.99 %
    low, high = binom.ppf([5e-5, 1 - 5e-5], REPLICATES, 0.95) / REPLICATES
    covered = null_summary["coverage"].dropna()
    assert {"mean", "variance", "jarzynski", "bar", "crooks"} <= set(covered.index.get_level_values(0))
    assert ((covered >= low) & (covered <= high)).all(), covered


def test_false_alarm_rate_is_nominal_and_no_verdict_fails(null_summary):
    for (check, _, _), row in null_summary.iterrows():
        low, high = binom.ppf([5e-5, 1 - 5e-5], REPLICATES, row["alarm_rate_nominal"]) / REPLICATES
        assert low <= row["alarm_rate"] <= high, (check, row["alarm_rate"])
    assert (null_summary["failed_rate"] == 0).all()


@pytest.mark.parametrize("perturbation,size,flagged", [
    ("occupation_shift", 0.2, [("mean", "forward", "work"), ("jarzynski", "forward", "work")]),
    ("wrong_free_energy", 0.1, [("jarzynski", "forward", "work"), ("bar", "both", "work")]),
    ("broken_reverse", 0.2, [("mean", "reverse", "work"), ("bar", "both", "work")]),
])
def test_deliberate_errors_have_power(perturbation, size, flagged):
    summary = summarize(calibrate(Staircase(steps=5), 1000, 30, perturbation, size, seed=2))
    summary = summary.set_index(["check", "direction", "observable"])
    for key in flagged:
        assert summary.loc[key, "failed_rate"] >= 0.9, (key, summary.loc[key, "failed_rate"])


def test_unknown_perturbation_is_refused():
    with pytest.raises(ValueError, match="perturbation must be one of"):
        calibrate(Staircase(steps=2), 10, 1, "typo")
