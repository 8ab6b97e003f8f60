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
    run.tables["checks"].loc[0, ["passed", "verdict"]] = [False, "failed"]
    run.save(tmp_path / "run")
    code, stdout, _ = _run(capsys, "check", str(tmp_path / "run"))
    assert code == 1 and "FAILED" in stdout


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "--steps must be an integer >= 1 (got 0)"),
    (["--beta", "-1"], "--beta must be positive (got -1.0)"),
    (["--beta", "-inf"], "--beta must be a finite number (got -inf)"),
    (["--gap-start", "nan"], "--gap-start must be a finite number"),
    (["--trajectories", "0"], "--trajectories must be an integer >= 1 (got 0)"),
    (["--trajectories", str(10**30)], "--trajectories must be <= 2**63 - 1"),
    (["--seed", "-3"], "--seed must be an integer in [0, 2**63 - 1]"),
    (["--steps", "abc"], "argument --steps: expected an integer (1e5 allowed), got 'abc'"),
    (["--chunk-size", "0"], "--chunk-size must be an integer >= 1 (got 0)"),
    (["--workers", "0"], "--workers must be an integer >= 1 (got 0)"),
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
    assert code == 2 and "holds a different run (--steps: 2 there, 3 here)" in stderr


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
    (["--initial-temperature", "2"], "--initial-temperature is only used with --initial = 'thermal'"),
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


# --- issue 16 case 7 (messages in the user's words) and case 8 (readability) ---------------------
@pytest.mark.parametrize("argv,message", [
    (["--photon-coupling", "nan"], "--photon-coupling must be a finite number (got nan)"),
    (["--photon-coupling", "-1"], "--photon-coupling must be >= 0"),
    (["--dephasing-temperature", "-1"], "--dephasing-temperature must be >= 0"),
    (["--rates", "1,2,3", "--photon-coupling", "0.1"], "--rates replaces the baths: drop --photon-coupling"),
    (["--t-end", "-1"], "--t-end must be > 0"),
    (["--times", "1"], "--times must be an integer >= 2"),
])
def test_qubit_errors_name_the_option_given(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    code, _, stderr = _run(capsys, "sample", "qubit", "--out", str(out), "--quiet", *argv)
    assert code == 2 and message in stderr and stderr.count("\n") == 1, stderr
    assert not out.exists()


def test_lz_errors_name_the_option_given(tmp_path, capsys):
    code, _, stderr = _run(capsys, "sample", "lz", "--levels", "1,0", "--out", str(tmp_path / "r"))
    assert code == 2 and "--levels must be strictly ascending" in stderr


def test_out_that_is_a_file_is_named(tmp_path, capsys):
    afile = tmp_path / "existing.txt"
    afile.write_text("x")
    code, _, stderr = _run(capsys, "sample", "staircase", "--out", str(afile), "--quiet")
    assert code == 2 and f"--out {afile}: {afile} is a file, not a directory" in stderr
    assert "Errno" not in stderr


def test_check_verdicts_and_strict(tmp_path, capsys):
    run = mt.sample(mt.Staircase(steps=3), 1000, 1)
    checks = run.tables["checks"]
    checks["verdict"] = ["passed"] * len(checks)
    checks.loc[0, "verdict"] = "inconclusive"
    run.save(tmp_path / "run")
    code, stdout, _ = _run(capsys, "check", str(tmp_path / "run"))
    assert code == 0 and "inconclusive" in stdout and f"{len(checks) - 1} passed, 0 failed, 1 inconclusive" in stdout
    assert _run(capsys, "check", "--strict", str(tmp_path / "run"))[0] == 1
    checks.loc[1, "verdict"] = "failed"
    run.save(tmp_path / "run")
    code, stdout, _ = _run(capsys, "check", str(tmp_path / "run"))
    assert code == 1 and "FAILED" in stdout


def test_not_applicable_is_counted_apart_and_never_fails_strict(tmp_path, capsys):
    run = mt.sample(mt.Staircase(steps=3), 1000, 1)
    checks = run.tables["checks"]
    checks["verdict"] = ["passed"] * len(checks)
    checks.loc[0, ["verdict", "reason"]] = ["not applicable", "no exact law"]
    run.save(tmp_path / "run")
    code, stdout, _ = _run(capsys, "check", "--strict", str(tmp_path / "run"))
    assert code == 0 and "not applicable: no exact law" in stdout
    assert f"{len(checks) - 1} passed, 0 failed, 0 inconclusive, 1 not applicable" in stdout


def test_verdict_table_names_runs_by_folder(tmp_path, capsys):
    for name, steps in (("small", 2), ("large", 3)):
        mt.sample(mt.Staircase(steps=steps), 1000, 1, out=tmp_path / name)
    code, stdout, _ = _run(capsys, "check", str(tmp_path))
    lines = stdout.splitlines()
    assert code == 0 and lines[0].startswith("run")
    assert {line.split()[0] for line in lines[1:-1]} == {"small", "large"}
    assert "run_id" in mt.read(tmp_path).checks  # the id is kept as a column


def test_check_into_a_closed_pipe_is_quiet(tmp_path):
    """`mcthermo check DIR | head` used to print "mcthermo: error: [Errno 32] Broken pipe"."""
    import subprocess
    import sys

    mt.sample(mt.Staircase(steps=3), 1000, 1, out=tmp_path / "a")
    shell = f"{sys.executable} -m mcthermo.cli check {tmp_path} | true"  # the reader is gone at once
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert result.stderr == ""


def test_warnings_are_one_readable_line(tmp_path, capsys):
    import warnings

    class Noisy(mt.Staircase):
        def check_tables_feasible(self):
            warnings.warn("validity doubtful: slow driving", UserWarning)

    from mcthermo import cli as cli_module

    def sample_noisy(args):
        mt.sample(Noisy(steps=2), 100, 1)
        return 0

    handlers = cli_module._sample
    try:
        cli_module._sample = sample_noisy
        code, _, stderr = _run(capsys, "sample", "staircase", "--quiet")
    finally:
        cli_module._sample = handlers
    assert code == 0 and stderr == "mcthermo: warning: validity doubtful: slow driving\n"


def test_quiet_still_says_where_the_default_output_went(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = _run(capsys, "sample", "staircase", "--steps", "2", "--trajectories", "100",
                                "--quiet")
    assert code == 0 and stdout == "" and stderr.startswith("mcthermo: wrote data/runs/staircase-")
    assert (tmp_path / stderr.split()[-1] / "run.json").exists()


def test_resume_is_reported_on_stderr_without_a_terminal(tmp_path, capsys):
    out = tmp_path / "run"
    mt.sample(mt.Staircase(steps=3), 4000, 1, out=out, chunk_size=1000)
    info = mt.io.read_json(out / "run.json")
    mt.io.write_json(out / "run.json", {**{k: v for k, v in info.items() if k != "files"}, "status": "running"})
    (out / "histogram.parquet").unlink()
    sorted((out / "chunks").glob("*.npz"))[-1].unlink()
    code, _, stderr = _run(capsys, "sample", "staircase", "--steps", "3", "--trajectories", "4000",
                           "--seed", "1", "--out", str(out), "--quiet")
    assert code == 0 and "resuming" in stderr and "3,000 of 4,000 trajectories already on disk" in stderr


def test_sample_a_model_from_a_python_file(tmp_path, capsys):
    (tmp_path / "system.py").write_text("import mcthermo as mt\n"
                                        "spec = mt.Staircase(steps=4, beta=0.7)\n"
                                        "def factory():\n    return mt.LandauZener(levels=(1.0, 2.0), level_end=3.0)\n"
                                        "not_a_model = 3\n")
    out = tmp_path / "run"
    code, _, stderr = _run(capsys, "sample", f"{tmp_path}/system.py:spec", "--trajectories", "2000",
                           "--out", str(out), "--quiet")
    assert code == 0, stderr
    assert mt.read(out).spec == mt.Staircase(steps=4, beta=0.7)
    assert _run(capsys, "sample", f"{tmp_path}/system.py:factory", "--trajectories", "2000", "--reverse",
                "--out", str(tmp_path / "lz"), "--quiet")[0] == 0
    assert mt.read(tmp_path / "lz").spec.levels == (1.0, 2.0)
    # the system edited: resuming into the same directory is refused
    (tmp_path / "system.py").write_text("import mcthermo as mt\nspec = mt.Staircase(steps=5, beta=0.7)\n")
    code, _, stderr = _run(capsys, "sample", f"{tmp_path}/system.py:spec", "--trajectories", "2000",
                           "--out", str(out), "--quiet")
    assert code == 2 and "holds a different run (steps: 4 there, 5 here)" in stderr
    code, _, stderr = _run(capsys, "sample", f"{tmp_path}/system.py:nothing", "--out", str(tmp_path / "x"))
    assert code == 2 and "defines no 'nothing'" in stderr


def test_exact_lz_with_very_slow_driving_is_refused_at_once(tmp_path, capsys):
    """Issue 16 case 7: `mcthermo exact lz --speed 1e-6` used to run silently past a minute."""
    import time

    started = time.perf_counter()
    code, _, stderr = _run(capsys, "exact", "lz", "--speed", "1e-6", "--out", str(tmp_path / "x"))
    assert code == 2 and "--speed/--speeds: the exact propagation needs 2e+08 time steps" in stderr
    assert time.perf_counter() - started < 10 and not (tmp_path / "x").exists()


def test_exact_lz_estimates_the_tpm_enumeration_up_front(tmp_path, capsys, monkeypatch):
    """Issue #22: the up-front estimate counted the propagation only (0.19 s for an 18 s run)."""
    from mcthermo.exact import lz_comparison

    def stop(*args, **kwargs):
        raise ValueError("stopped after the estimate")

    monkeypatch.setattr(lz_comparison, "exact_lz", stop)
    code, _, stderr = _run(capsys, "exact", "lz", "--levels", "1,2,3,4,5,6,7,8,9,9.5,9.8",
                           "--speed", "0.3", "--out", str(tmp_path / "x"))
    assert code == 2 and "TPM work enumeration of 2 x 2.7e+06 pairs, about" in stderr
