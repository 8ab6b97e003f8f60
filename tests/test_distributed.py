"""Runs on a Dask LocalCluster (2 worker processes) are bit-identical to local runs."""
import pandas as pd
import pytest

import mcthermo as mt

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.mark.parametrize("spec,reverse", [(mt.Staircase(steps=30), True), (mt.LandauZener(), True),
                                          (mt.DrivenQubit(t_end=10.0, times=21), False),
                                          (mt.examples.ladder_otto(), False)])
def test_cluster_run_is_bit_identical_to_a_local_run(cluster, tmp_path, spec, reverse):
    local = mt.sample(spec, 30_000, 5, reverse=reverse)
    remote = mt.sample(spec, 30_000, 5, reverse=reverse, chunk_size=8_192, out=tmp_path / "run",
                       scheduler=cluster.scheduler_address)
    for name in local.tables:
        pd.testing.assert_frame_equal(local.tables[name], remote.tables[name], check_exact=True)
    assert len(list((tmp_path / "run" / "chunks").glob("*.npz"))) == (2 if reverse else 1) * 4


def test_tilted_cluster_run_is_bit_identical_to_a_local_run(cluster, tmp_path):
    """A tilted run (plain + tilted ensembles, MBAR on the merged counts) on the cluster."""
    spec, tilt = mt.examples.ladder_otto(), {"entropy_production": [0.4, 0.8]}
    local = mt.sample(spec, 30_000, 5, tilt=tilt)
    remote = mt.sample(spec, 30_000, 5, chunk_size=8_192, out=tmp_path / "run",
                       scheduler=cluster.scheduler_address, tilt=tilt)
    for name in local.tables:
        pd.testing.assert_frame_equal(local.tables[name], remote.tables[name], check_exact=True)
