"""Tilted (Doob) sampling of chains and stroke protocols with MBAR reweighting (spec G4): the tilted
histograms against the exact tilted laws, the reweighted rows against the exact G(s), the power to
see a 0.1 k_BT shift and a transition probability 2 % off, reproducibility and the run record."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

import mcthermo as mt
from mcthermo import tilting
from mcthermo.calibration import biased_doob
from mcthermo.systems import stroke_engine


def quench():
    """The issue's two-level gap lowered from 20 to 0.5 k_BT in one step at beta = 1."""
    return mt.Staircase(beta=1.0, gap_start=20.0, gap_end=0.5, steps=1)


def rows(run, check, tilt_contains):
    checks = run.checks
    return checks[(checks.check == check) & checks.tilt.str.contains(tilt_contains, regex=False)]


@pytest.mark.parametrize("spec, observable", [
    (mt.Staircase(beta=1.3, gap_start=0.2, gap_end=2.0, steps=12), "work"),
    (mt.LandauZener(levels=(1.0, 2.0 + np.sqrt(2.0), 4.5), mu=2.0), "work"),  # partial keeps, mixed radix
    (mt.LandauZener(levels=(1.0, 2.5, 4.0), mu=2.0), "entropy_production"),  # endpoint terms
    (mt.LandauZener(levels=(1.0, 2.5, 4.0), mu=2.0), "heat")])
def test_doob_two_state_chain_has_the_exact_tilted_law(spec, observable):
    """The tilted two-state chain (the chain models' kernel) against P e^{-sX} / G(s), to 1e-12."""
    plain = spec.chain("forward")
    x = np.ravel(spec._observable_grids("forward", plain)[observable])
    for s in (-0.7, 0.9, 3.0):
        tilted = spec.tilted_chain("forward", observable, s)
        finite = np.ravel(plain.log_joint_pmf()) > -np.inf
        expected = np.where(finite, np.ravel(plain.log_joint_pmf()) - s * np.where(finite, x, 0.0), -np.inf)
        expected -= spec.log_generating_function(observable, s)
        got = np.ravel(tilted.log_joint_pmf())
        assert np.array_equal(got > -np.inf, finite)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12, atol=1e-12)  # ln P


def test_one_step_quench_jarzynski_reweighted_with_power():
    """Plain sampling is inconclusive; tilt="auto" passes |z| <= 5 with 5 stderr < 0.1 k_BT, and
    the same estimate against dF + 0.1 fails."""
    spec = quench()
    run = mt.sample(spec, 1_000_000, 3, tilt="auto")
    plain = rows(run, "jarzynski", "")
    assert plain[plain.tilt == ""].verdict.item() == "inconclusive"
    row = rows(run, "jarzynski", "(reweighted)").iloc[0]
    assert row.verdict == "passed" and abs(row.z) <= 5 and 0 < 5 * row.stderr < 0.1
    assert row.stderr_source == "exact" and 0 < row.relative_variance_apriori < 1
    assert abs(row.expected - spec.free_energy_change()) < 1e-15
    assert abs(row.estimate - (spec.free_energy_change() + 0.1)) / row.stderr > 5  # dF + 0.1 fails
    assert rows(run, "distribution", "work=").verdict.item() == "passed"
    assert run.info["tilt"]["target"] == ["jarzynski", 1.0] and run.info["tilt"]["tilts"][-1] < 1.0
    law = run.tables["reweighted"].set_index("value")
    assert law.loc[-19.5, "probability_exact"] == pytest.approx(2.0611536e-9, rel=1e-6)
    assert abs(law.loc[-19.5, "probability"] - law.loc[-19.5, "probability_exact"]) < 5 * law.loc[-19.5, "stderr"]


def test_a_sampler_with_one_transition_two_percent_off_fails_the_tilted_histogram(monkeypatch):
    """The Doob chain's excited start 2 % too likely: the tilted histogram's G-test fails."""
    monkeypatch.setattr(stroke_engine, "doob_chain", biased_doob(stroke_engine.doob_chain, 1.02))
    run = mt.sample(quench(), 1_000_000, 3, tilt="auto")
    row = rows(run, "distribution", "work=").iloc[0]
    assert row.verdict == "failed" and row.z > 8


def three_level():
    rng = np.random.default_rng(5)
    u = np.linalg.qr(rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))[0]
    return mt.Strokes(energies=[0.0, 1.0, 2.0], baths={"hot": mt.Bath(beta=0.3), "cold": mt.Bath(beta=3.0)},
                      initial="cold", strokes=[mt.Quench([0.0, 2.0, 4.0], np.abs(u) ** 2), mt.Thermalize("hot", 0.7),
                                               mt.Quench([0.0, 1.0, 2.0]), mt.Thermalize("cold", 0.6)], cycles=3)


def test_stroke_protocol_integral_ft_from_a_ladder_and_the_reweighted_law():
    spec = three_level()
    run = mt.sample(spec, 20_000, 1, tilt={"entropy_production": [0.4, 0.8]})
    row = rows(run, "integral_ft", "(reweighted)").iloc[0]
    assert row.verdict == "passed" and abs(row.z) <= 5
    assert (rows(run, "distribution", "entropy_production=").verdict == "passed").all()
    law = run.tables["reweighted"]
    reached = law.stderr > 0
    z = (law.probability - law.probability_exact)[reached] / law.stderr[reached]
    assert reached.sum() > 10 and np.abs(z).max() < 5
    assert set(run.checks.tilt) == {"", "entropy_production=0.4", "entropy_production=0.8",
                                    "entropy_production=0.4,0.8(reweighted)"}


def test_tilted_runs_are_bit_identical_across_chunks_and_threads_and_record_their_tilt(tmp_path):
    spec = three_level()
    tilt = {"work": [0.5]}
    a = mt.sample(spec, 3_000, 7, tilt=tilt, chunk_size=1_000, out=tmp_path / "a", save_samples=True)
    b = mt.sample(spec, 3_000, 7, tilt=tilt, chunk_size=3_000, workers=1)
    for name in ("histogram", "summary", "checks", "reweighted"):
        left, right = a.tables[name].drop(columns="run_id"), b.tables[name].drop(columns="run_id")
        pd.testing.assert_frame_equal(left, right)
    back = mt.read(tmp_path / "a")
    assert back.info["tilt"]["tilts"] == [0.5]
    samples = back.samples
    tilted = samples[samples.tilt == "work=0.5"]
    assert len(tilted) == 3_000 and np.all(samples[samples.tilt == ""].log_weight == 0.0)
    # ln P/Q = ln G(s) + sW: the weights average to 1 under Q
    assert np.exp(tilted.log_weight).mean() == pytest.approx(1.0, abs=5 * np.exp(tilted.log_weight).std() / 55)
    with pytest.raises(Exception, match="tilt"):
        mt.sample(spec, 3_000, 7, tilt={"work": [0.6]}, out=tmp_path / "a")


def test_tilt_arguments_are_checked():
    with pytest.raises(ValueError, match="non-zero"):
        mt.sample(quench(), 10, 0, tilt={"work": [0.0]})
    with pytest.raises(ValueError, match="'heat_bath'"):
        mt.sample(quench(), 10, 0, tilt={"heat_bath": [0.5]})
    assert tilting.parse_tilt("work=0.5,1") == {"work": [0.5, 1.0]}
    with pytest.raises(ValueError, match="--tilt"):
        tilting.parse_tilt("work")


def test_staircase_tail_law_down_to_1e30_from_a_few_tilts():
    """Staircase N = 100 (ln 2 -> ln 3, beta = 1): every atom of P(W) above 1e-30 (85 of them, the
    deepest 4e-30) reached, each within 5 of its stated stderr of the exact law."""
    run = mt.sample(mt.Staircase(), 20_000, 1, tilt={"work": [-1400, -1000, -600, -300, 300, 600]})
    law = run.tables["reweighted"]
    law = law[law.probability_exact > 1e-30]
    assert len(law) == 85 and (law.probability > 0).all() and (law.stderr > 0).all()
    z = (law.probability - law.probability_exact) / law.stderr
    assert np.abs(z).max() < 5
    assert (rows(run, "distribution", "work=").verdict == "passed").all()


def test_protocols_too_large_for_a_histogram_count_keys_and_use_exact_tilted_moments(monkeypatch):
    """Moment-only protocols (the box too large to hold): the ensembles count histogram keys, each
    tilted ensemble is checked against its exact tilted mean and variance, and the reweighted
    integral FT is judged with the data's MBAR variance (no exact cell law)."""
    monkeypatch.setattr(stroke_engine, "MAX_HISTOGRAM_CELLS", 10)
    monkeypatch.setattr(stroke_engine, "MAX_SUPPORT", 10)
    spec = three_level()
    assert spec.engine("forward").mode == "moments"
    run = mt.sample(spec, 20_000, 2, tilt={"entropy_production": [0.5, 0.9]}, chunk_size=7_000)
    tilted = run.checks[run.checks.tilt.isin(["entropy_production=0.5", "entropy_production=0.9"])]
    assert set(tilted.check) == {"mean", "variance"} and (tilted.verdict == "passed").all()
    row = rows(run, "integral_ft", "(reweighted)").iloc[0]
    assert row.verdict == "passed" and row.stderr_source == "data" and abs(row.z) <= 5
    # a wrong exact tilted mean is flagged
    shifted = (tilted[tilted.check == "mean"].estimate - tilted[tilted.check == "mean"].expected - 0.3)
    assert (np.abs(shifted / tilted[tilted.check == "mean"].stderr) > 5).all()


def test_issue_ladder_otto_integral_ft_is_decided_by_tilting():
    """The issue's 8-level ladder Otto engine over 20 cycles with friction: <sigma> = 6.50 and an
    exact relative variance of e^{-sigma} of 4.8e11 (plain sampling of 1e6 trajectories cannot
    decide the integral FT).  With tilt="auto" and 1e5 trajectories per ensemble the reweighted row
    passes, 0.1 lies beyond 5 stderr, and the same estimate against a value 0.1 off fails."""
    spec = mt.examples.ladder_otto(levels=8, cycles=20, beta_hot=0.2325, beta_cold=0.8211)
    mean, _ = spec.engine("forward").exact_moments("entropy_production")
    log_g = spec.log_generating_function("entropy_production", np.array([1.0, 2.0]))
    assert mean == pytest.approx(6.50, abs=0.01)
    assert np.expm1(log_g[1] - 2 * log_g[0]) == pytest.approx(4.8e11, rel=0.05)
    run = mt.sample(spec, 100_000, 4, tilt="auto", progress=False)
    tilted = run.checks[(run.checks.tilt != "") & ~run.checks.tilt.str.endswith(")")]
    assert len(tilted) and (tilted.verdict == "passed").all()
    row = rows(run, "integral_ft", "(reweighted)").iloc[0]
    assert row.verdict == "passed" and abs(row.z) <= 5 and 0 < 5 * row.stderr < 0.1
    assert abs((row.estimate - row.expected - 0.1) / row.stderr) > 5


def test_tilted_run_resumes_to_identical_tables_in_both_directions(tmp_path):
    spec = mt.Staircase(steps=10)
    out = tmp_path / "run"
    first = mt.sample(spec, 40_000, 9, reverse=True, out=out, chunk_size=10_000, tilt={"work": [2.0, 4.0]})
    for path in sorted((out / "chunks").glob("reverse-*"))[1:3]:
        path.unlink()
    (out / "reweighted.parquet").unlink()
    again = mt.sample(spec, 40_000, 9, reverse=True, out=out, tilt={"work": [2.0, 4.0]})
    for name in ("histogram", "summary", "checks", "reweighted"):
        pd.testing.assert_frame_equal(first.tables[name], again.tables[name])
    assert set(first.checks.direction) == {"forward", "reverse", "both"}
    reweighted = first.checks[first.checks.tilt.str.endswith("(reweighted)")]
    assert set(reweighted.direction) == {"forward", "reverse", "both"} and (reweighted.verdict != "failed").all()


def test_command_line_tilt(tmp_path):
    from mcthermo import cli

    out = tmp_path / "run"
    assert cli.main(["sample", "staircase", "--steps", "1", "--gap-start", "20", "--gap-end", "0.5",
                     "--trajectories", "20000", "--tilt", "work=0.9,0.95", "--out", str(out), "--quiet"]) == 0
    run = mt.read(out)
    assert run.info["tilt"]["tilts"] == [0.9, 0.95] and "reweighted" in run.tables
    assert rows(run, "jarzynski", "(reweighted)").verdict.item() == "passed"


def test_crooks_from_the_reweighted_laws_of_both_directions():
    spec = mt.Staircase(steps=10)
    run = mt.sample(spec, 50_000, 1, reverse=True, tilt={"work": [1.0]})
    row = rows(run, "crooks", "(reweighted)").iloc[0]
    assert row.verdict == "passed" and row.direction == "both" and row.atoms >= 5
    assert abs(row.estimate - (spec.free_energy_change() + 0.1)) / row.stderr > 5


def test_auto_chooses_a_ladder_per_direction():
    spec = quench()
    tilted = tilting.tilted_spec(spec, "auto", quiet=True)
    assert tilted.reverse_tilts != tilted.tilts and max(tilted.reverse_tilts) < 1.0
    run = mt.sample(spec, 20_000, 4, reverse=True, tilt=tilted)
    assert run.info["tilt"]["reverse_tilts"] == list(tilted.reverse_tilts)
    reweighted = run.checks[run.checks.tilt.str.endswith("(reweighted)")]
    assert (reweighted.verdict == "passed").all() and set(reweighted.check) == {"jarzynski", "crooks"}


def test_auto_for_a_named_row():
    tilted = tilting.tilted_spec(mt.LandauZener(), "auto:integral_ft", quiet=True)
    assert tilted.observable == "entropy_production" and tilted.target == ("integral_ft", 1.0)
    assert tilting.tilted_spec(mt.LandauZener(), "auto", quiet=True).target[0] == "jarzynski"
    with pytest.raises(ValueError, match="Jarzynski does not apply"):
        tilting.tilted_spec(three_level(), "auto:jarzynski")
    assert tilting.parse_tilt("auto:integral_ft") == "auto:integral_ft"
