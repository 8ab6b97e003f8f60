"""Issue 16: no silent corruption, no stuck or unreadable runs, nothing written by a refused run.

Each test names the case of issue 16 it covers; each failed before the fix."""
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

import mcthermo as mt
from mcthermo import cli, io
from mcthermo.run import fingerprint, identity_of

SPEC = mt.Staircase(steps=10)


def _same(a, b):
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)


def _running_copy(out):
    """Turn a complete run into an interrupted one (run.json "running", tables gone)."""
    info = io.read_json(out / "run.json")
    io.write_json(out / "run.json", {**{k: v for k, v in info.items() if k != "files"}, "status": "running"})
    for table in out.glob("*.parquet"):
        table.unlink()


def test_case2_a_rewritten_chunk_with_other_counts_is_never_merged(tmp_path):
    """A chunk rewritten as a valid file (right fingerprint, right name) whose counts differ used to
    be merged on resume: summary said more trajectories than run.json."""
    out = tmp_path / "run"
    mt.sample(SPEC, 20_000, 3, out=out, chunk_size=5_000)
    _running_copy(out)
    victim = sorted((out / "chunks").glob("forward-*.npz"))[1]
    key = fingerprint(identity_of(io.read_json(out / "run.json")))
    content = io.read_chunk(victim, key)
    content["counts"] = content["counts"] * 2  # "6,315,554 while its name says 5,315,554"
    io.write_chunk(victim, content, key, "forward", 5_000, 5_000)
    with pytest.raises(mt.MCThermoFileError, match=rf"{victim.name}: damaged or edited"):
        mt.sample(SPEC, 20_000, 3, out=out)
    assert io.read_json(out / "run.json")["status"] == "running"
    assert not (out / "summary.parquet").exists()


def test_case2_a_chunk_whose_header_disagrees_with_its_name_is_refused(tmp_path):
    out = tmp_path / "run"
    mt.sample(SPEC, 20_000, 3, out=out, chunk_size=5_000)
    _running_copy(out)
    chunks = sorted((out / "chunks").glob("forward-*.npz"))
    key = fingerprint(identity_of(io.read_json(out / "run.json")))
    digest = io.write_chunk(chunks[1], io.read_chunk(chunks[0], key), key, "forward", 0, 5_000)
    io.append_manifest(out / "chunks", {f"chunks/{chunks[1].name}": digest})  # even when vouched for
    with pytest.raises(mt.MCThermoFileError, match="not what its name says"):
        mt.sample(SPEC, 20_000, 3, out=out)


def test_case2_check_names_a_damaged_table(tmp_path, capsys):
    out = tmp_path / "run"
    mt.sample(SPEC, 5_000, 3, out=out)
    table = pd.read_parquet(out / "summary.parquet")
    table.loc[0, "mean"] = 1e9  # a valid Parquet file with other numbers
    table.to_parquet(out / "summary.parquet")
    assert cli.main(["check", str(out)]) == 2
    assert "summary.parquet: damaged or edited" in capsys.readouterr().err


def test_case3_samples_on_resume_of_a_run_without_them_are_refused(tmp_path):
    out = tmp_path / "run"
    mt.sample(SPEC, 20_000, 3, out=out, chunk_size=5_000)
    _running_copy(out)
    for chunk in sorted((out / "chunks").glob("*.npz"))[2:]:
        chunk.unlink()
    with pytest.raises(ValueError, match="--save-samples: the run in .* was started without samples"):
        mt.sample(SPEC, 20_000, 3, out=out, save_samples=True)
    assert not (out / "samples").exists()


def test_case3_samples_are_labelled_complete_and_read_back(tmp_path):
    out = tmp_path / "run"
    run = mt.sample(SPEC, 6_000, 3, reverse=True, out=out, chunk_size=2_000, save_samples=True)
    back = mt.read(out)
    assert back.samples is not None and len(back.samples) == 12_000
    assert {"model", "run_id", "direction"} <= set(back.samples.columns)
    assert set(back.samples["direction"]) == {"forward", "reverse"}
    assert (back.samples["run_id"] == run.info["run_id"]).all()
    for direction, rows in back.samples.groupby("direction"):
        assert list(rows["trajectory"]) == list(range(6_000))
    files = pd.read_parquet(out / "samples")  # the folder read on its own says which row is which
    assert files.groupby("direction").size().to_dict() == {"forward": 6_000, "reverse": 6_000}
    assert mt.sample(SPEC, 6_000, 3, reverse=True, out=out).samples is not None  # a resumed complete run


@pytest.mark.parametrize("trajectories", [2**63, 10**30])
def test_case4_trajectories_above_int64_are_refused_at_once(tmp_path, trajectories):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"trajectories must be <= 2\*\*63 - 1"):
        mt.sample(SPEC, trajectories, 1, out=out)
    assert not out.exists()


def test_case4_a_huge_plan_is_generated_lazily():
    from mcthermo.chunks import plan_chunks

    plan = plan_chunks(2**63 - 1, 1_000, [(0, 2_000)])
    assert next(plan) == (2_000, 1_000) and next(plan) == (3_000, 1_000)


class _Refusing(mt.Staircase):
    def check_tables_feasible(self):
        raise ValueError("--steps: too many")


@pytest.mark.parametrize("how", ["feasibility", "scheduler", "kernel"])
def test_case5_a_refused_run_leaves_nothing_and_the_corrected_rerun_works(tmp_path, how, monkeypatch):
    out = tmp_path / "run"
    if how == "feasibility":
        with pytest.raises(ValueError, match="too many"):
            mt.sample(_Refusing(steps=10), 1_000, 1, out=out)
    elif how == "scheduler":
        pytest.importorskip("dask.distributed")
        from mcthermo import distributed
        monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", "1s")  # nothing listens: not 30 s of retries
        with pytest.raises(ValueError, match="no Dask scheduler reachable"):
            mt.sample(SPEC, 1_000, 1, out=out, scheduler="tcp://127.0.0.1:9")
    else:
        def fail(*args):
            raise MemoryError
        monkeypatch.setattr(mt.Staircase, "accumulate", fail)
        with pytest.raises(MemoryError):
            mt.sample(SPEC, 1_000, 1, out=out)
        monkeypatch.undo()
    assert not out.exists()
    assert mt.sample(SPEC, 1_000, 1, out=out).passed  # not refused as "a different run"


def test_case6_a_failed_resume_never_downgrades_a_complete_run(tmp_path):
    out = tmp_path / "run"
    first = mt.sample(SPEC, 20_000, 3, out=out, chunk_size=5_000)
    chunk = sorted((out / "chunks").glob("*.npz"))[0]
    chunk.write_bytes(chunk.read_bytes()[:100])  # damaged chunk of a complete run
    again = mt.sample(SPEC, 20_000, 3, out=out, chunk_size=7_000)  # rerun: tables intact, nothing sampled
    _same(first, again)
    (out / "histogram.parquet").unlink()  # now the rerun must rebuild from the chunks, and cannot
    with pytest.raises(mt.MCThermoFileError, match=f"{chunk.name}: damaged or edited"):
        mt.sample(SPEC, 20_000, 3, out=out)
    info = io.read_json(out / "run.json")
    assert info["status"] == "complete"
    pd.testing.assert_frame_equal(pd.read_parquet(out / "summary.parquet"), first.summary, check_exact=True)


def test_case6_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "run"
    code = ("import mcthermo as mt; "
            f"mt.sample(mt.Staircase(steps=200), 40_000_000, 4, out=r'{out}', chunk_size=100_000)")
    first = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((out / "chunks").glob("*.npz")):
            time.sleep(0.02)
        with pytest.raises(mt.MCThermoFileError, match=r"another mcthermo process \(pid \d+\) is writing"):
            mt.sample(mt.Staircase(steps=200), 40_000_000, 4, out=out, chunk_size=50_000)
    finally:
        first.kill()
        first.wait()
    assert io.read_json(out / "run.json")["status"] == "running"
    # the lock dies with its holder: the run can be resumed at once
    from mcthermo.lock import run_lock

    with run_lock(out):
        pass
