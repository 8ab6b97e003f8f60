"""Reweighted rows of jump systems judged by their exact a-priori variance (``exact/importance.py``,
``open_tilting._exact_row``)."""
import math

import numpy as np
import pytest

import mcthermo as mt
from mcthermo.exact import generating
from mcthermo.systems.open_tilting import _exact_crooks_row, _exact_row, _own_estimate
from mcthermo.tilting import tilted_spec
from test_open_tilting import _quench_system


def _reweighted(run):
    checks = run.tables["checks"]
    return checks[checks.tilt.str.endswith("(reweighted)")].set_index(["check", "direction"])


@pytest.fixture(scope="module")
def quench_run():
    return mt.sample(_quench_system(), 20000, 5, tilt="auto", reverse=True, progress=False)


def test_the_stderr_of_a_reweighted_row_is_known_before_sampling(quench_run):
    """Jarzynski at beta = 1: every ensemble's own estimate, combined by exact inverse variance; the
    stderr is sqrt(v / n) with v = 1 / sum_e 1 / v_e from the exact relative variances alone."""
    rows = _reweighted(quench_run)
    spec = tilted_spec(_quench_system(), "auto", quiet=True)
    for direction in ("forward", "reverse"):
        row = rows.loc[("jarzynski", direction)]
        v = spec.row_relative_variance(direction, "work", 1.0)
        assert row.stderr_source == "exact"
        assert row.stderr == pytest.approx(math.sqrt(v / 20000), rel=1e-12)
        assert row.relative_variance_apriori == pytest.approx(v, rel=1e-12)
        assert row.verdict == "passed" and abs(row.z) <= 5
        assert 0 < 5 * row.stderr < 0.1       # dF +- 0.1 k_B T lies beyond 5 stderr


def test_a_row_of_another_observable_is_judged_where_its_exact_variance_gives_power(quench_run):
    """The ladder tilts the work; the integral FT forward still has an exact relative variance of
    1.7 per trajectory (judged), the reverse one 3.8e6 (no power: inconclusive, never a false
    alarm from paths no ensemble drew)."""
    rows = _reweighted(quench_run)
    forward, reverse = rows.loc[("integral_ft", "forward")], rows.loc[("integral_ft", "reverse")]
    assert forward.verdict == "passed" and forward.stderr < 0.02
    assert reverse.verdict == "inconclusive" and "no power" in reverse.reason
    assert reverse.relative_variance_apriori > 1e6


def test_an_exact_row_flags_a_wrong_free_energy():
    """The same accumulators against dF + 0.1 k_B T: failed (and against dF: passed)."""
    system = _quench_system()
    spec = tilted_spec(system, "auto", quiet=True)
    spec.prepare("forward")
    n = 20000
    accumulators = spec.accumulate("forward", 5, 0, n)
    ensembles = len(spec.systems_of("forward"))
    sums = [np.asarray(accumulators[f"weighted_{e}_sums"]) for e in range(ensembles)]
    variances = spec.relative_variances("forward", "work", 1.0)
    delta_f = -generating.log_generating_function(system, "work", 1.0)
    counts = np.full(ensembles, float(n))
    good = _exact_row("jarzynski", "forward", "work", 1.0, delta_f, sums, 1, counts, 0, variances)
    wrong = _exact_row("jarzynski", "forward", "work", 1.0, delta_f + 0.1, sums, 1, counts, 0, variances)
    assert good["verdict"] == "passed"
    assert wrong["verdict"] == "failed" and wrong["z"] < -5


def test_an_ensemble_at_the_exact_doob_transform_of_the_row_is_not_a_test():
    row = _exact_row("jarzynski", "forward", "work", 1.0, 0.0, [np.zeros((1, 2, 5))] * 2, 1,
                     np.full(2, 100.0), 0, np.array([3.0, 0.0]))
    assert row["verdict"] == "inconclusive" and "zero variance" in row["reason"]


def test_the_crooks_row_at_its_midpoint_has_the_exact_variance_and_flags_a_wrong_free_energy():
    """Nine-piece qubit cycled at beta = 2, tilts 0.5 and 1 both ways: dF from <e^{-W}> of each
    direction (the midpoint of Crooks), stderr sqrt(v_F + v_R) / beta known before sampling."""
    from test_open_tilting import _cycles
    system = _cycles()
    spec = tilted_spec(system, {"work": [0.5, 1.0]})
    n, parts, variances = 5000, {}, {}
    for direction in ("forward", "reverse"):
        spec.prepare(direction)
        accumulators = spec.accumulate(direction, 5, 0, n)
        ensembles = len(spec.systems_of(direction))
        sums = [np.asarray(accumulators[f"weighted_{e}_sums"]) for e in range(ensembles)]
        q = 1 + [check for check, *_ in spec._rows(direction)].index("crooks")
        variances[direction] = spec.relative_variances(direction, "work", 1.0)
        parts[direction] = _own_estimate(sums, q, np.full(ensembles, float(n)), variances[direction]) + (0, n)
    delta_f = -generating.log_generating_function(system, "work", 2.0) / 2.0   # Jarzynski: exact dF
    good = _exact_crooks_row(parts["forward"], parts["reverse"], 2.0, delta_f)
    expected_stderr = math.sqrt(sum(1 / np.sum(n / v) for v in variances.values())) / 2.0
    assert good["stderr"] == pytest.approx(expected_stderr, rel=1e-12) and good["stderr_source"] == "exact"
    assert good["verdict"] == "passed" and 5 * good["stderr"] < 0.1
    for shift in (-0.1, 0.1):
        assert _exact_crooks_row(parts["forward"], parts["reverse"], 2.0, delta_f + shift)["verdict"] == "failed"


@pytest.mark.parametrize("s", [-20.0, 20.0, -1000.0])
def test_a_tilt_too_strong_for_the_system_is_refused_naming_it(s):
    from test_open_tilting import _two_bath_qubit
    with pytest.raises(ValueError, match=f"tilt heat_hot={s:g} is too strong"):
        mt.sample(_two_bath_qubit(), 100, 1, tilt={"heat_hot": s}, progress=False)


@pytest.mark.parametrize("tilts", ["abc", None, [1.0, "x"]])
def test_tilt_values_that_are_not_numbers_are_refused(tilts):
    with pytest.raises(ValueError, match="tilts must be distinct finite non-zero numbers"):
        tilted_spec(_quench_system(), {"work": tilts})


def test_strict_check_counts_no_plain_row_that_the_reweighted_row_decides(tmp_path):
    """The plain ensemble's Jarzynski and integral-FT rows stay inconclusive (plain sampling cannot
    reach the paths); the reweighted rows decide them, so `mcthermo check --strict` exits 0."""
    from mcthermo.cli import main
    from mcthermo.run import decided_by_reweighting, verdicts
    run = mt.sample(_quench_system(), 20000, 5, tilt="auto", out=tmp_path / "run", progress=False)
    inconclusive = verdicts(run.checks) == "inconclusive"
    assert inconclusive.sum() == 2 and (inconclusive == decided_by_reweighting(run.checks)).all()
    assert main(["check", "--strict", str(tmp_path / "run")]) == 0
