"""The command line: sample, check, demo; one-line errors with exit code 2."""
import pytest

import mcthermo as mt
from mcthermo import cli, demo


def _run(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sample_writes_the_contract_and_prints_verdicts(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = _run(capsys, "sample", "staircase", "--steps", "5", "--trajectories", "20000",
                           "--seed", "3", "--reverse", "--out", str(out), "--quiet")
    assert code == 0 and stdout == ""
    assert {p.name for p in out.iterdir()} >= {"run.json", "histogram.parquet", "summary.parquet",
                                               "checks.parquet", "chunks"}
    code, stdout, _ = _run(capsys, "check", str(out))
    assert code == 0 and "jarzynski" in stdout and "FAILED" not in stdout
    assert mt.read(out).info["parameters"]["steps"] == 5


def test_check_exits_one_when_a_check_failed(tmp_path, capsys):
    run = mt.sample(mt.Staircase(steps=3), 1000, 1)
    run.tables["checks"].loc[0, "passed"] = False
    run.save(tmp_path / "run")
    code, stdout, _ = _run(capsys, "check", str(tmp_path / "run"))
    assert code == 1 and "FAILED" in stdout


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "steps must be an integer >= 1 (got 0)"),
    (["--beta", "-1"], "beta must be positive (got -1.0)"),
    (["--gap-start", "nan"], "gap_start must be a finite number"),
    (["--trajectories", "0"], "trajectories must be an integer >= 1 (got 0)"),
    (["--seed", "-3"], "seed must be an integer in [0, 2**63 - 1]"),
    (["--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
    (["--chunk-size", "0"], "chunk_size must be an integer >= 1 (got 0)"),
    (["--workers", "0"], "workers must be an integer >= 1 (got 0)"),
    (["--dask", "remote"], "argument --dask: invalid choice: 'remote'"),
    (["--dask", "local", "--scheduler", "tcp://x:1"], "not allowed with argument"),
])
def test_bad_input_is_one_line_and_exit_two(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    code, _, stderr = _run(capsys, "sample", "staircase", "--out", str(out), "--quiet", *argv)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1
    assert not out.exists()


def test_out_directory_with_another_run_is_refused(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert _run(capsys, "sample", "staircase", "--steps", "2", "--trajectories", "100", "--out", out,
                "--quiet")[0] == 0
    code, _, stderr = _run(capsys, "sample", "staircase", "--steps", "3", "--trajectories", "100",
                           "--out", out, "--quiet")
    assert code == 2 and "holds a different run (steps: 2 there, 3 here)" in stderr


def test_check_of_a_missing_directory(tmp_path, capsys):
    code, _, stderr = _run(capsys, "check", str(tmp_path / "none"))
    assert code == 2 and "no mcthermo run here" in stderr


def test_demo_runs_every_entry(tmp_path, capsys, monkeypatch):
    small = [(name, spec, 2000, seed, reverse) for name, spec, _, seed, reverse in demo.DEMO_RUNS]
    monkeypatch.setattr(demo, "DEMO_RUNS", small)
    code, stdout, _ = _run(capsys, "demo", "--out", str(tmp_path), "--quiet")
    assert code == 0
    assert len(mt.read(tmp_path).runs) == len(small)


@pytest.mark.parametrize("argv", [
    ["--gap-start", "0", "--gap-end", "1e3", "--steps", "10"],   # e^{-beta W} underflows in the tail
    ["--gap-start", "1", "--gap-end", "1", "--reverse"],           # no driving: W = 0 exactly
    ["--beta", "30", "--reverse"],                                 # almost no fluctuations
    ["--beta", "50"],                                              # zero sampled variance
    ["--reverse", "--trajectories", "100"],                        # too few counts for Crooks/BAR
])
def test_extreme_but_valid_parameters_give_tables_and_no_false_alarm(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert cli.main(["sample", "staircase", "--out", str(out), "--quiet", *argv]) == 0
    assert (mt.read(out).checks["verdict"] != "failed").all()


def test_unwritable_output_is_one_line_and_exit_two(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, stderr = _run(capsys, "sample", "staircase", "--out", str(afile / "run"), "--quiet",
                           "--trajectories", "10")
    assert code == 2 and stderr.startswith("mcthermo: error:") and stderr.count("\n") == 1


def test_negative_list_values_need_no_equals_sign(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["sample", "lz", "--levels", "-2,-1,0,1", "--level-start", "-3.5", "--mu", "-1e-1",
            "--trajectories", "20000", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    assert mt.read(out).info["parameters"]["levels"] == [-2.0, -1.0, 0.0, 1.0]


@pytest.mark.parametrize("argv,message", [
    (["--initial", "a,b,c"], "--initial needs comma-separated numbers (got 'a,b,c')"),
    (["--rates", "1,x,2"], "--rates needs comma-separated numbers"),
    (["--initial-temperature", "2"], "initial_temperature is only used with initial = 'thermal'"),
])
def test_bad_qubit_options_name_the_option(tmp_path, capsys, argv, message):
    code, _, stderr = _run(capsys, "sample", "qubit", "--out", str(tmp_path / "run"), *argv)
    assert code == 2 and message in stderr and stderr.count("\n") == 1


def test_demo_refuses_a_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["sample", "staircase", "--steps", "3", "--trajectories", "100", "--out", str(out),
                     "--quiet"]) == 0
    code, _, stderr = _run(capsys, "demo", "--out", str(out), "--quiet")
    assert code == 2 and "is a run directory" in stderr
