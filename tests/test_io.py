"""The Parquet contract: round trip, metadata, atomic writes, clear errors on foreign files."""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mcthermo as mt
from mcthermo import io
from mcthermo.run import table_stamp


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "staircase"
    return mt.sample(mt.Staircase(steps=5), 20_000, 3, reverse=True, out=out), out


def test_round_trip_and_metadata(run):
    result, out = run
    back = mt.read(out)
    assert back.info == json.loads((out / "run.json").read_text())
    for name, frame in result.tables.items():
        pd.testing.assert_frame_equal(frame, back.tables[name], check_exact=True)
        assert frame.equals(back.tables[name])  # exact: same values, dtypes and column order
        assert io.table_metadata(out / f"{name}.parquet") == table_stamp(result.info)
    assert set(back.info["files"]) >= {"histogram.parquet", "summary.parquet", "checks.parquet"}
    assert {"model", "run_id", "beta", "gap_start", "gap_end", "steps"} <= set(back.histogram.columns)
    assert mt.read(out, "summary").equals(back.summary)
    assert back.spec == mt.Staircase(steps=5)
    assert not list(out.rglob("*.tmp"))


def test_collection_concatenates_runs(run, tmp_path):
    result, _ = run
    result.save(tmp_path / "a")
    other = mt.sample(mt.Staircase(steps=2), 1000, 4)
    other.save(tmp_path / "b")
    both = mt.read(tmp_path)
    assert set(both.summary["run_id"]) == {result.info["run_id"], other.info["run_id"]}
    assert len(both.checks) == len(result.checks) + len(other.checks)


def test_foreign_and_damaged_files_give_clear_errors(run, tmp_path):
    _, out = run
    foreign = tmp_path / "summary.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    with pytest.raises(mt.MCThermoFileError, match="without mcthermo metadata"):
        io.read_table(foreign)
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes((out / "histogram.parquet").read_bytes()[:200])
    with pytest.raises(mt.MCThermoFileError, match="damaged.parquet: not a readable Parquet"):
        io.read_table(damaged)
    lacking = tmp_path / "checks.parquet"
    io.write_table(pd.DataFrame({"check": ["mean"]}), lacking, {"model": "x"})
    with pytest.raises(mt.MCThermoFileError, match="lacks column"):
        io.read_table(lacking)
    with pytest.raises(mt.MCThermoFileError, match="no mcthermo run"):
        mt.read(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{not json")
    with pytest.raises(mt.MCThermoFileError, match="run.json: not a readable JSON"):
        mt.read(tmp_path / "bad")


def test_chunk_files_are_checked(tmp_path):
    path = tmp_path / "forward-0-10.npz"
    digest = io.write_chunk(path, {"counts": np.arange(4)}, "abc", "forward", 0, 10)
    assert digest == io.file_sha256(path)
    assert np.array_equal(io.read_chunk(path, "abc", ("forward", 0, 10), digest)["counts"], np.arange(4))
    with pytest.raises(mt.MCThermoFileError, match="not what its name says"):
        io.read_chunk(path, "abc", ("forward", 0, 11))
    with pytest.raises(mt.MCThermoFileError, match="different run"):
        io.read_chunk(path, "xyz")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(mt.MCThermoFileError, match="damaged chunk file"):
        io.read_chunk(path, "abc")
    old = tmp_path / "forward-10-10.npz"
    np.savez(old, __header__=np.array(json.dumps({"format": 0, "fingerprint": "abc"})))
    with pytest.raises(mt.MCThermoFileError, match="another mcthermo version"):
        io.read_chunk(old, "abc")


def test_a_failing_write_leaves_the_old_table_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "summary.parquet"
    io.write_table(pd.DataFrame({"a": [1]}), target, {"model": "x"})
    before = target.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", disk_full)
    with pytest.raises(OSError, match="No space"):
        io.write_table(pd.DataFrame({"a": [2]}), target, {"model": "x"})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["summary.parquet"]


def test_tables_carry_page_checksums_and_a_flipped_bit_is_named(run, tmp_path):
    """Issue 16 case 2: one flipped bit inside histogram.parquet data used to be read silently."""
    import shutil

    result, out = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    target = copy / "histogram.parquet"
    column = pq.ParquetFile(target).metadata.row_group(0).column(list(result.histogram).index("count"))
    data = bytearray(target.read_bytes())
    data[column.data_page_offset + column.total_compressed_size - 3] ^= 0x04  # inside the counts
    target.write_bytes(bytes(data))
    with pytest.raises(mt.MCThermoFileError, match=r"histogram.parquet: damaged or edited"):
        mt.read(copy)
    # without the recorded hash, Parquet's own page checksums still catch it
    with pytest.raises(mt.MCThermoFileError, match="histogram.parquet: not a readable Parquet"):
        io.read_table(target)
    # a complete run that lists a table that is gone is named too
    (copy / "histogram.parquet").unlink()
    with pytest.raises(mt.MCThermoFileError, match="histogram.parquet: no such file"):
        mt.read(copy)


def test_manifest_ignores_a_line_cut_short(tmp_path):
    io.append_manifest(tmp_path, {"chunks/a.npz": "1"})
    with open(tmp_path / io.MANIFEST, "a") as handle:
        handle.write('{"chunks/b.npz": "2')  # kill -9 in the middle of the line
    assert io.read_manifest(tmp_path) == {"chunks/a.npz": "1"}


def test_a_large_system_is_not_repeated_in_every_tables_metadata(tmp_path):
    """A system too large for Parquet schema metadata (a d = 40 open system is ~100 MB of matrices)
    is stored once, in run.json; the tables stay readable by pandas and mt.read."""
    from mcthermo import run as run_module

    rng = np.random.default_rng(5)
    d = 12
    h = np.diag(np.sort(rng.normal(size=d)) * 3)
    lower = np.tril(rng.normal(size=(d, d)), -1) * 0.1
    system = mt.OpenSystem(hamiltonian=h, channels=[mt.Channel("x", lower, energy=0.0, bath="b")],
                           baths={"b": mt.Bath(beta=1.0)}, initial=np.eye(d) / d, duration=0.5,
                           measure_energy=False)
    limit = run_module.MAX_STAMPED_PARAMETERS
    try:
        run_module.MAX_STAMPED_PARAMETERS = 1000
        result = mt.sample(system, 200, 1, out=tmp_path / "big")
    finally:
        run_module.MAX_STAMPED_PARAMETERS = limit
    stamp = io.table_metadata(tmp_path / "big" / "summary.parquet")
    assert stamp["parameters_in"] == "run.json" and stamp["system_id"] == result.info["system_id"]
    assert stamp["parameters"] == {"dimension": d, "pieces": 1, "duration": 0.5, "measure_energy": False}
    assert len(pd.read_parquet(tmp_path / "big" / "checks.parquet")) == len(result.checks)
    assert mt.read(tmp_path / "big").spec == system
