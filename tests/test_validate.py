"""mt.validate and `mcthermo validate` on work samples: BAR equals pymbar, verdicts catch wrong
free energies, and bad input is one line naming it (exit 2)."""
import argparse
import warnings

import numpy as np
import pandas as pd
import pytest

from mcthermo.validation import read_work, register, run, validate

BETA, DF, SIGMA = 2.0, 0.7, 0.6


def _gaussian_work(seed, n_forward=20_000, n_reverse=15_000):
    """Gaussian work pair obeying Crooks: W_F ~ N(dF + beta s^2/2, s), W_R ~ N(-dF + beta s^2/2, s)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(DF + BETA * SIGMA**2 / 2, SIGMA, n_forward),
            rng.normal(-DF + BETA * SIGMA**2 / 2, SIGMA, n_reverse))


def _rows(table):
    return table.set_index(["check", "direction"])


def test_bar_equals_pymbar_on_the_same_samples():
    pytest.importorskip("pymbar")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymbar import other_estimators
    forward, reverse = _gaussian_work(1)
    reference = other_estimators.bar(BETA * forward, BETA * reverse, relative_tolerance=1e-14,
                                     maximum_iterations=10_000)
    bar = _rows(validate(forward, pd.Series(reverse), beta=BETA)).loc[("bar", "both")]
    assert bar["estimate"] == pytest.approx(reference["Delta_f"] / BETA, abs=1e-8)
    assert bar["stderr"] == pytest.approx(reference["dDelta_f"] / BETA, abs=1e-8)
    assert bar["verdict"] == "inconclusive" and "no exact free energy" in bar["reason"]


def test_correct_samples_pass_and_a_wrong_free_energy_fails():
    forward, reverse = _gaussian_work(2)
    right = _rows(validate(forward, reverse, beta=BETA, free_energy=DF))
    assert list(right.index) == [("jarzynski", "forward"), ("jarzynski", "reverse"), ("bar", "both"),
                                 ("crooks", "both"), ("crooks_linearity", "both")]
    assert (right["verdict"] == "passed").all(), right[["z", "reason"]]
    assert (right.loc[("bar", "both"), ["overlap", "effective_sample_size", "trajectories_needed"]] > 0).all()
    wrong = _rows(validate(forward, reverse, beta=BETA, free_energy=DF + 0.05))
    for check in [("jarzynski", "forward"), ("bar", "both"), ("crooks", "both")]:
        assert wrong.loc[check, "verdict"] == "failed", check


def test_histograms_and_samples_give_the_same_rows(staircase_work_counts):
    w, cf, cr, free_energy = staircase_work_counts
    by_counts = validate((w, cf), (-w, cr), beta=1.0, free_energy=free_energy)
    by_samples = validate(np.repeat(w, cf), np.repeat(-w, cr), beta=1.0, free_energy=free_energy)
    pd.testing.assert_frame_equal(by_counts, by_samples)
    assert (by_counts["verdict"] == "passed").all(), by_counts[["check", "z", "reason"]]


def test_few_samples_or_no_overlap_are_inconclusive_never_a_pass():
    forward, reverse = _gaussian_work(4)
    few = validate(forward[:4], reverse[:4], beta=BETA, free_energy=DF)
    assert (few["verdict"] == "inconclusive").all() and (few["reason"] != "").all()
    apart = _rows(validate(forward, reverse + 50.0, beta=BETA, free_energy=DF))
    assert apart.loc[("bar", "both"), "verdict"] in ("inconclusive", "failed")
    assert apart.loc[("crooks", "both"), "verdict"] == "inconclusive"
    # beta sigma_W = 20: the forward Jarzynski average rests on a handful of samples (and even
    # the sample's own relative variance of e^{-beta W}, far below the true e^400, asks for more)
    rng = np.random.default_rng(5)
    wide = rng.normal(DF + BETA * 10.0**2 / 2, 10.0, 10_000)
    row = _rows(validate(wide, beta=BETA, free_energy=DF)).loc[("jarzynski", "forward")]
    assert row["verdict"] == "inconclusive" and row["trajectories_needed"] > 10 * wide.size


@pytest.mark.parametrize("forward,beta,message", [
    ([], 1.0, "forward: no work samples"),
    ([0.1, np.nan], 1.0, "must be finite"),
    ([0.1, 0.2], 0.0, "beta must be a finite positive number"),
    ([0.1, 0.2], -1.0, "beta must be a finite positive number"),
    ([0.1, 0.2], "1", "beta must be a finite positive number"),
    (np.zeros((50, 2)), 1.0, r"forward: expected a 1-d array .* \(got an array of shape \(50, 2\)\)"),
    (pd.DataFrame({"work": [0.1, 0.2], "x": [1, 2]}), 1.0, r"forward: a table .* pass one column"),
    ((np.zeros((3, 2)), np.ones((3, 2))), 1.0, r"forward values: expected a 1-d array"),
    (([0.1, 0.2], np.ones((2, 1))), 1.0, r"forward counts: expected a 1-d array"),
    ("0.1 0.2", 1.0, "forward: expected work values"),
    ([0.1, "x"], 1.0, "forward: expected a 1-d array of numbers"),
])
def test_bad_input_is_refused_with_one_clear_error(forward, beta, message):
    """#22: a 2-d array was flattened silently (and 'failed'); now refused, as tables and text are."""
    with pytest.raises(ValueError, match=message):
        validate(forward, beta=beta)


@pytest.mark.parametrize("free_energy", ["0.5", np.nan, True, [0.5]])
def test_a_free_energy_that_is_not_a_number_is_one_clear_error(free_energy):
    with pytest.raises(ValueError, match="free_energy must be a finite number or None"):
        validate([0.1, 0.2, 0.3], beta=1.0, free_energy=free_energy)


def _command(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return run(parser.parse_args(["validate", *argv]))


def test_command_reads_parquet_csv_and_npy_and_exits_by_verdict(tmp_path, capsys):
    forward, reverse = _gaussian_work(6, 5000, 5000)
    pd.DataFrame({"work": forward}).to_parquet(tmp_path / "f.parquet")
    pd.DataFrame({"w": reverse}).to_csv(tmp_path / "r.csv", index=False)
    np.save(tmp_path / "r.npy", reverse)
    assert _command([str(tmp_path / "f.parquet"), str(tmp_path / "r.npy"), "--beta", "2",
                     "--free-energy", "0.7"]) == 0
    out = capsys.readouterr().out
    assert "bar" in out and "5 passed, 0 failed, 0 inconclusive" in out
    assert _command([str(tmp_path / "f.parquet"), str(tmp_path / "r.npy"), "--beta", "2",
                     "--free-energy", "0.8"]) == 1
    assert "FAILED" in capsys.readouterr().out
    # no free energy: estimates only (inconclusive), exit 0 unless --strict
    assert _command([str(tmp_path / "f.parquet"), "--beta", "2"]) == 0
    assert _command([str(tmp_path / "f.parquet"), "--beta", "2", "--strict"]) == 1
    capsys.readouterr()
    assert _command([str(tmp_path / "r.csv"), "--column", "w", "--beta", "2"]) == 0


def test_csv_without_header_row(tmp_path):
    """Bare numbers in one column are the work samples, all of them (pandas alone would make the
    first one the column name); several header-less columns are refused by name."""
    work = np.array([0.25, -1.5, 3.0, 1e-3])
    np.savetxt(tmp_path / "bare.csv", work)
    np.testing.assert_array_equal(read_work(tmp_path / "bare.csv"), work)
    np.savetxt(tmp_path / "two.csv", np.c_[work, [1, 2, 3, 4]], delimiter=",")
    with pytest.raises(ValueError, match="no header row"):
        read_work(tmp_path / "two.csv")
    pd.DataFrame({"work": work}).to_csv(tmp_path / "named.csv", index=False)
    np.testing.assert_array_equal(read_work(tmp_path / "named.csv"), work)


@pytest.mark.parametrize("make,argv,message", [
    (lambda p: pd.DataFrame({"x": [1.0]}).to_parquet(p / "a.parquet"), ["a.parquet"], "no column 'work'"),
    (lambda p: pd.DataFrame({"work": [1.0, np.inf]}).to_csv(p / "a.csv"), ["a.csv"], "must be finite"),
    (lambda p: (p / "a.csv").write_text(""), ["a.csv"], "cannot read it"),
    (lambda p: pd.DataFrame({"work": []}).to_csv(p / "a.csv"), ["a.csv"], "no work samples"),
    (lambda p: np.save(p / "a.npy", np.ones(3)), ["a.npy", "--beta", "0"], "beta must be"),
    (lambda p: None, ["missing.npy"], "no such file"),
])
def test_command_bad_input_is_one_line_and_exit_two(tmp_path, capsys, monkeypatch, make, argv, message):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    beta = [] if "--beta" in argv else ["--beta", "1"]
    assert _command([*argv, *beta]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
