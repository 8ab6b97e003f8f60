"""Runs: bit-identical for any chunking and thread count; resume after interruption; refusals."""
import io

import numba
import numpy as np
import pandas as pd
import pytest

import mcthermo as mt
from mcthermo import Staircase
from mcthermo.runner import Progress

SPEC = Staircase(steps=30)


def _assert_same_tables(a, b):
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)


def random_spectrum_otto():
    """A d = 3 Otto engine with random (incommensurate) spectra: sampled on its sparse support."""
    rng = np.random.default_rng(3)
    cold, hot = np.sort(rng.uniform(0.0, 1.0, 3)), np.sort(rng.uniform(0.0, 2.0, 3))
    swap = np.abs(np.linalg.qr(rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))[0]) ** 2
    spec = mt.Strokes(energies=cold, baths={"hot": mt.Bath(beta=0.5), "cold": mt.Bath(beta=2.0)},
                      initial="cold", strokes=[mt.Quench(hot, swap), mt.Thermalize("hot", 0.7),
                                               mt.Quench(cold, swap.T), mt.Thermalize("cold")], cycles=2)
    assert spec.engine("forward").mode == "sparse"
    return spec


@pytest.mark.parametrize("spec,reverse", [(SPEC, True), (mt.DrivenQubit(t_end=5.0, times=11), False),
                                          (mt.examples.ladder_otto(), True), (random_spectrum_otto(), False)],
                         ids=["staircase", "qubit", "ladder-otto", "sparse-otto"])
def test_tables_are_bit_identical_for_any_chunk_size_and_thread_count(spec, reverse):
    """Same seed -> the same bytes in every table, whatever the chunking (not aligned with the
    qubit's 4096-trajectory blocks either) and the number of Numba threads; the thread count of the
    caller is restored after each run."""
    reference = mt.sample(spec, 30_000, 5, reverse=reverse)
    threads = numba.get_num_threads()
    for workers, chunk_size in [(1, None), (1, 3_000), (numba.config.NUMBA_NUM_THREADS, 7_777),
                                (None, 30_000), (numba.config.NUMBA_NUM_THREADS, 1_000)]:
        other = mt.sample(spec, 30_000, 5, reverse=reverse, workers=workers, chunk_size=chunk_size)
        _assert_same_tables(reference, other)
        assert numba.get_num_threads() == threads


def test_elapsed_time_and_rate_are_recorded(tmp_path):
    run = mt.sample(SPEC, 20_000, 1, reverse=True, out=tmp_path / "run")
    assert run.elapsed_seconds > 0 and run.trajectories_per_second == pytest.approx(40_000 / run.elapsed_seconds)
    back = mt.read(tmp_path / "run")
    assert back.elapsed_seconds == run.elapsed_seconds
    assert back.trajectories_per_second == run.trajectories_per_second


def test_seeds_and_directions_are_distinct_streams():
    a = mt.sample(SPEC, 20_000, 1, reverse=True).histogram
    b = mt.sample(SPEC, 20_000, 2, reverse=True).histogram
    assert not np.array_equal(a["count"].to_numpy(), b["count"].to_numpy())


class _Interrupting(Staircase):
    """A spec whose sampling is interrupted (Ctrl-C) at its third chunk."""

    calls = 0

    def accumulate(self, direction, seed, first, count):
        type(self).calls += 1
        if type(self).calls == 3:
            raise KeyboardInterrupt
        return super().accumulate(direction, seed, first, count)


def test_interrupted_run_resumes_to_identical_tables(tmp_path):
    out = tmp_path / "run"
    spec = _Interrupting(steps=30)
    with pytest.raises(KeyboardInterrupt):
        mt.sample(spec, 50_000, 5, reverse=True, out=out, chunk_size=10_000)
    assert len(list((out / "chunks").glob("*.npz"))) == 2
    assert mt.io.read_json(out / "run.json")["status"] == "running"
    with pytest.raises(mt.MCThermoFileError, match="not finished"):
        mt.read(out)
    # resume with a different chunk size: only the missing ranges are sampled
    resumed = mt.sample(spec, 50_000, 5, reverse=True, out=out, chunk_size=15_000)
    _assert_same_tables(resumed, mt.sample(SPEC, 50_000, 5, reverse=True))
    _assert_same_tables(resumed, mt.read(out))


def test_rerun_after_deleting_chunks_and_tables_is_identical(tmp_path):
    out = tmp_path / "run"
    first = mt.sample(SPEC, 40_000, 9, reverse=True, out=out, chunk_size=10_000)
    for path in sorted((out / "chunks").glob("forward-*"))[1:3]:
        path.unlink()
    (out / "histogram.parquet").unlink()
    _assert_same_tables(first, mt.sample(SPEC, 40_000, 9, reverse=True, out=out))


def test_a_different_run_in_the_same_directory_is_refused(tmp_path):
    out = tmp_path / "run"
    mt.sample(SPEC, 1_000, 9, out=out)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(ValueError, match=r"holds a different run \(steps: 30 there, 31 here\)"):
        mt.sample(Staircase(steps=31), 1_000, 9, out=out)
    with pytest.raises(ValueError, match=r"seed: 9 there, 8 here"):
        mt.sample(SPEC, 1_000, 8, out=out)
    assert sorted(p.name for p in out.rglob("*")) == before
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no mcthermo run"):
        mt.sample(SPEC, 1_000, 9, out=tmp_path / "foreign")


def test_saved_samples_match_the_histogram(tmp_path):
    run = mt.sample(SPEC, 5_000, 2, save_samples=True, chunk_size=2_000)
    assert list(run.samples["trajectory"]) == list(range(5_000))
    assert list(run.samples.columns[:3]) == ["model", "run_id", "direction"]
    counts = run.samples.groupby("work_index").size()
    hist = run.histogram.query("observable == 'work' and count > 0")
    assert counts.to_numpy().tolist() == hist["count"].tolist()
    out = tmp_path / "run"
    mt.sample(SPEC, 5_000, 2, save_samples=True, chunk_size=2_000, out=out)
    on_disk = pd.concat([pd.read_parquet(p) for p in sorted((out / "samples").glob("*.parquet"))])
    assert on_disk["work"].tolist() == run.samples["work"].tolist()


@pytest.mark.parametrize("kwargs,message", [
    (dict(trajectories=0), "trajectories must be an integer >= 1"),
    (dict(seed=-1), "seed must be an integer in"),
    (dict(workers=0), "workers must be an integer >= 1"),
    (dict(workers=10_000), "workers must be <="),
    (dict(chunk_size=0), "chunk_size must be an integer >= 1"),
])
def test_bad_run_options(kwargs, message):
    options = dict(trajectories=10, seed=1) | kwargs
    with pytest.raises(ValueError, match=message):
        mt.sample(SPEC, **options)


def test_killed_run_resumes_to_identical_tables(tmp_path):
    """kill -9 in the middle of a run: completed chunks survive, the rerun completes identically."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    code = ("import mcthermo as mt; "
            "mt.sample(mt.Staircase(steps=200), 3_000_000, 4, out=r'%s', chunk_size=50_000)" % out)
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "chunks").glob("*.npz"))) < 5:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    survivors = len(list((out / "chunks").glob("*.npz")))
    assert 5 <= survivors < 60, survivors
    assert not (out / "histogram.parquet").exists()
    resumed = mt.sample(Staircase(steps=200), 3_000_000, 4, out=out)
    _assert_same_tables(resumed, mt.sample(Staircase(steps=200), 3_000_000, 4))
    assert not list(out.rglob("*.tmp"))


class _Terminal(io.StringIO):
    """An in-memory stderr that says it is a terminal."""

    def isatty(self):
        return True


def _terminal(monkeypatch) -> _Terminal:
    """Replace stderr by a terminal (inside the test: pytest re-installs its capture between the
    setup and call phases)."""
    stream = _Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    return stream


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    terminal = _terminal(monkeypatch)
    bar = Progress("staircase", 100, enabled=True)
    bar.advance(50)
    bar.close()
    assert "50.0%" in terminal.getvalue() and "traj/s" in terminal.getvalue() and "ETA" in terminal.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    Progress("staircase", 100, enabled=False).advance(50)
    assert quiet.getvalue() == ""
    monkeypatch.undo()
    mt.sample(SPEC, 1000, 1, progress=True)  # stderr is not a terminal under pytest: silent
    assert capsys.readouterr().err == ""


def test_ctrl_c_in_a_compiled_kernel_stops_cleanly_after_the_chunk(tmp_path):
    """SIGINT while the qubit kernel runs (it used to surface inside Numba's result boxing as a
    SystemError or a segfault): exit code 130, the chunk in flight is kept, the run resumes."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "mcthermo.cli", "sample", "qubit", "--t-end", "5", "--times", "11",
               "--trajectories", "100000000", "--chunk-size", "400000", "--out", str(out), "--quiet"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not list((out / "chunks").glob("*.npz")):
        time.sleep(0.05)
    time.sleep(0.3)  # inside the next chunk's kernel
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 130, stderr
    assert "stopping after the chunk in flight" in stderr and "Traceback" not in stderr
    chunks = list((out / "chunks").glob("*.npz"))
    assert 2 <= len(chunks) < 250
    from mcthermo.models.qubit_results import trajectories
    from mcthermo.run import fingerprint, identity_of

    key = fingerprint(identity_of(mt.io.read_json(out / "run.json")))
    for chunk in chunks:  # every chunk on disk is complete and belongs to this run
        count = int(chunk.stem.split("-")[2])  # <direction>-<first>-<count>
        assert trajectories(mt.io.read_chunk(chunk, key)) == count


def test_infeasible_exact_tables_are_refused_before_sampling():
    with pytest.raises(ValueError, match="dynamic programme over 200000 events"):
        mt.sample(Staircase(steps=200_000), 10, 1)


def test_progress_bar_shows_no_rate_while_loading_resumed_chunks(monkeypatch):
    """Issue 16 case 8: the bar used to show "0 traj/s ETA nan s" while loading chunks."""
    terminal = _terminal(monkeypatch)
    bar = Progress("staircase", 100, enabled=True)
    bar.advance(60, resumed=True)
    assert terminal.getvalue() == ""
    bar.advance(10)
    bar.close()
    assert "70.0%" in terminal.getvalue() and "nan" not in terminal.getvalue()
