"""The checks are calibrated: intervals cover at their nominal rate, false alarms occur at most at
the promised rate also at 100 trajectories, deliberate errors are detected, and where sampling has
no power the verdict is inconclusive (small version of scripts/calibrate.py)."""
import pytest
from scipy.stats import binom

from mcthermo import Staircase
from mcthermo.calibration import calibrate, power_sweep, run_failure_rate, summarize

REPLICATES = 120


@pytest.fixture(scope="module")
def null_table():
    return calibrate(Staircase(steps=5), 1000, REPLICATES, seed=1)


def test_interval_coverage_is_nominal(null_table):
    # 95 % intervals: the number covering is Binomial(120, 0.95); accept its central 99.99 %
    summary = summarize(null_table).set_index(["check", "direction", "observable"])
    low, high = binom.ppf([5e-5, 1 - 5e-5], REPLICATES, 0.95) / REPLICATES
    covered = summary["coverage"].dropna()
    assert {"mean", "variance", "jarzynski", "bar", "crooks"} <= set(covered.index.get_level_values(0))
    assert ((covered >= low) & (covered <= high)).all(), covered


def test_false_alarm_rate_is_at_most_nominal_and_no_verdict_fails(null_table):
    summary = summarize(null_table).set_index(["check", "direction", "observable"])
    for (check, _, _), row in summary.iterrows():
        if row["alarm_rate"] == row["alarm_rate"]:           # not NaN: some verdicts were judged
            high = binom.ppf(1 - 5e-5, REPLICATES, row["alarm_rate_nominal"]) / REPLICATES
            assert row["alarm_rate"] <= high, (check, row["alarm_rate"])
    assert run_failure_rate(null_table) == 0.0


@pytest.mark.parametrize("spec", [Staircase(steps=5), Staircase(beta=20.0)], ids=["beta1", "beta20"])
def test_no_false_alarm_at_one_hundred_trajectories(spec):
    table = calibrate(spec, 100, 60, seed=7)
    assert run_failure_rate(table) == 0.0, table.loc[table.verdict == "failed", ["check", "reason"]]


@pytest.mark.parametrize("perturbation,size,flagged", [
    ("occupation_shift", 0.2, [("mean", "forward", "work"), ("jarzynski", "forward", "work")]),
    ("wrong_free_energy", 0.1, [("jarzynski", "forward", "work"), ("bar", "both", "work")]),
    ("broken_reverse", 0.2, [("mean", "reverse", "work"), ("bar", "both", "work")]),
])
def test_deliberate_errors_have_power(perturbation, size, flagged):
    summary = summarize(calibrate(Staircase(steps=5), 1000, 20, perturbation, size, seed=2))
    summary = summary.set_index(["check", "direction", "observable"])
    for key in flagged:
        assert summary.loc[key, "failed_rate"] >= 0.9, (key, summary.loc[key, "failed_rate"])


def test_without_power_the_verdict_is_inconclusive_not_passed():
    """Gaussian work at 1000 trajectories: beta sigma_W = 1 is judged (a dF off by 2 k_B T
    fails), beta sigma_W = 3 (e^9 trajectories needed) is inconclusive whatever dF is claimed."""
    rates = power_sweep([1.0, 3.0], 1000, 10, shift_kt=2.0).set_index(["beta_sigma", "free_energy"])
    assert rates.loc[(1.0, "right"), "passed"] == 1.0 and rates.loc[(1.0, "wrong"), "failed"] == 1.0
    assert rates.loc[(3.0, "right"), "inconclusive"] == 1.0 and rates.loc[(3.0, "wrong"), "inconclusive"] == 1.0


def test_unknown_perturbation_is_refused():
    with pytest.raises(ValueError, match="perturbation must be one of"):
        calibrate(Staircase(steps=2), 10, 1, "typo")


def test_generating_function_rows_do_not_false_alarm():
    """A small version of calibrate.py section 4: the rows built on G(s) of a random Davies
    protocol, correct sampler, 12 seeds x 1024 trajectories: no failed row, every row judged."""
    from mcthermo.calibration import calibrate_generating
    from test_generating_checks import davies_protocol

    table = calibrate_generating(davies_protocol(), 1024, 12, seed=900)
    assert set(table["check"]) == {"mean", "variance", "distribution", "jarzynski", "integral_ft"}
    assert (table["verdict"] != "failed").all(), table[table["verdict"] == "failed"]
    assert (table["verdict"] == "passed").mean() > 0.9
