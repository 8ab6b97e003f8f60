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
    assert len({run.info["seed"] for run in result.runs}) == 6  # independent streams
    assert summary["run"].str.startswith("steps=").all()  # runs named by their folder
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
    ('model = "staircase"\ntrajectories = 0', "trajectories must be an integer in [1, 2**63 - 1]"),
    ('model = "staircase"\ncombine = "zip"\n[sweep]\nsteps = [1, 2]\nbeta = [1.0]', "equally long"),
    ('model = "staircase"\n[sweep]\nsteps = {start = 1}', "a range needs start, stop, num"),
    ('model = "staircase"\ncolour = 1', "unknown key"),
    ('model = "staircase"\n[sweep]\nbeta = {start = 0, stop = 2, num = 3, scale = "log"}',
     "a log range needs start > 0 and stop > 0 (got start = 0, stop = 2)"),
    ('model = "staircase"\n[sweep]\nbeta = {start = 1, stop = 2, num = 2.5}', "num an integer >= 1"),
    ('model = [', "not valid TOML"),
    # issue 16 case 1: duplicate points and a parameter defined twice used to be accepted silently
    ('model = "staircase"\n[sweep]\nsteps = {start = 1, stop = 3, num = 10, integer = true}',
     "points steps=1 and steps=1 are the same point"),
    ('model = "staircase"\n[sweep]\nsteps = [2, 2]', "are the same point"),
    ('model = "staircase"\n[parameters]\nsteps = 3\n[sweep]\nsteps = [1, 2]',
     "steps given both under [parameters] and [sweep]"),
])
def test_bad_sweep_files(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert cli.main(["run", str(path), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


EDITED = """
model = "staircase"
trajectories = 3000
seed = 5
out = "{out}"
[sweep]
steps = {steps}
"""


def test_case1_an_edited_sweep_reuses_unchanged_points_and_flags_the_rest(tmp_path, capsys):
    """Issue 16 case 1: steps = [10, 50, 100] edited to [10, 20, 50, 100] used to leave 6 folders
    (50 and 100 twice, with different seeds) and read all of them as the sweep."""
    path, out = tmp_path / "sweep.toml", tmp_path / "out"
    path.write_text(EDITED.format(out=out, steps="[10, 50, 100]"))
    assert cli.main(["run", str(path), "--quiet"]) == 0
    before = {run.name: run for run in mt.read(out).runs}
    path.write_text(EDITED.format(out=out, steps="[10, 20, 50, 100]"))
    assert cli.main(["run", str(path), "--quiet"]) == 0
    after = mt.read(out)
    assert len(after.runs) == 4 and len(list(out.glob("*/run.json"))) == 4
    assert sorted(after.summary.query("observable == 'work'")["steps"]) == [10, 20, 50, 100]
    for run in after.runs:  # unchanged points: same folder, same seed, same bytes
        if run.name in before:
            assert run.info["seed"] == before[run.name].info["seed"]
            assert run.histogram.equals(before[run.name].histogram)
    assert set(before) < {run.name for run in after.runs}
    # a point removed from the file: kept, reported, not read; --prune deletes it
    path.write_text(EDITED.format(out=out, steps="[10, 20, 50]"))
    capsys.readouterr()
    assert cli.main(["run", str(path), "--quiet"]) == 0
    assert "steps=100-" in capsys.readouterr().err
    result = mt.read(out)
    assert len(result.runs) == 3 and [p.name for p in result.stale] == [n for n in before if n.startswith("steps=100-")]
    assert cli.main(["run", str(path), "--quiet", "--prune"]) == 0
    assert not mt.read(out).stale and len(list(out.glob("*/run.json"))) == 3


def test_a_sweep_over_a_factory_in_a_python_file(tmp_path):
    (tmp_path / "system.py").write_text(
        "import mcthermo as mt\n"
        "def make(n, hot=False):\n"
        "    return mt.Staircase(steps=n, beta=0.5 if hot else 1.0)\n")
    path = tmp_path / "sweep.toml"
    path.write_text('model = "system.py:make"\ntrajectories = 2000\nout = "%s"\n'
                    '[parameters]\nhot = true\n[sweep]\nn = [2, 3]\n' % (tmp_path / "out"))
    assert cli.main(["run", str(path), "--quiet"]) == 0
    result = mt.read(tmp_path / "out")
    assert sorted(run.spec.steps for run in result.runs) == [2, 3]
    assert all(run.spec.beta == 0.5 for run in result.runs)
    path.write_text(path.read_text().replace("n = [2, 3]", "m = [2]"))
    assert cli.main(["run", str(path), "--quiet"]) == 2
