"""Sweeps from TOML: one resumable run per point; all tables concatenate into tidy frames."""
import pytest

import mcthermo as mt
from mcthermo import cli
from mcthermo.sweep import load_sweep

SWEEP = """
model = "staircase"
trajectories = 5000
seed = 3
reverse = true
out = "{out}"
[parameters]
beta = 2.0
[sweep]
steps = [1, 4]
gap_end = {{start = 1.0, stop = 2.0, num = 3}}
"""


def test_sweep_runs_every_point_and_reads_back_tidy(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(out=tmp_path / "out"))
    assert cli.main(["run", str(path), "--quiet"]) == 0
    result = mt.read(tmp_path / "out")
    assert len(result.runs) == 6
    summary = result.summary.query("observable == 'work' and direction == 'forward'")
    assert sorted(zip(summary["steps"], summary["gap_end"])) == sorted(
        (n, g) for n in (1, 4) for g in (1.0, 1.5, 2.0))
    assert (summary["beta"] == 2.0).all() and summary["run_id"].nunique() == 6
    assert sorted({run.info["seed"] for run in result.runs}) == list(range(3, 9))
    # rerunning resumes: nothing is resampled, identical tables
    before = result.checks.sort_values(["run_id", "check", "direction", "observable"]).reset_index(drop=True)
    assert cli.main(["run", str(path), "--quiet"]) == 0
    after = mt.read(tmp_path / "out").checks.sort_values(["run_id", "check", "direction", "observable"])
    assert before.equals(after.reset_index(drop=True))


def test_shipped_sweeps_are_valid():
    from pathlib import Path

    files = sorted(Path(__file__).parents[1].glob("scripts/sweeps/*.toml"))
    assert len(files) >= 4
    for file in files:
        assert load_sweep(file).specs


@pytest.mark.parametrize("text,message", [
    ('model = "nope"', "model must be one of"),
    ('model = "staircase"\n[sweep]\nstepz = [1]', "no parameter 'stepz'"),
    ('model = "staircase"\n[sweep]\nsteps = [0, 1]', "point steps=0: steps must be an integer >= 1"),
    ('model = "staircase"\ntrajectories = 0', "trajectories must be an integer >= 1"),
    ('model = "staircase"\ncombine = "zip"\n[sweep]\nsteps = [1, 2]\nbeta = [1.0]', "equally long"),
    ('model = "staircase"\n[sweep]\nsteps = {start = 1}', "a range needs start, stop, num"),
    ('model = "staircase"\ncolour = 1', "unknown key"),
    ('model = "staircase"\n[sweep]\nbeta = {start = 0, stop = 2, num = 3, scale = "log"}',
     "a log range needs start > 0 and stop > 0 (got start = 0, stop = 2)"),
    ('model = "staircase"\n[sweep]\nbeta = {start = 1, stop = 2, num = 2.5}', "num an integer >= 1"),
    ('model = [', "not valid TOML"),
])
def test_bad_sweep_files(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert cli.main(["run", str(path), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
