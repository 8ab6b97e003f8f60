"""Runs on a Dask LocalCluster (2 worker processes) are bit-identical to local runs."""
import numpy as np
import pandas as pd
import pytest

import mcthermo as mt
from warm_kernels import quench  # the run the background warm-up compiles for

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.mark.parametrize("spec,reverse", [(mt.Staircase(steps=30), True), (mt.LandauZener(), True),
                                          (mt.DrivenQubit(t_end=10.0, times=21), False),
                                          (mt.examples.ladder_otto(), False),
                                          (mt.examples.maser(), False)])
def test_cluster_run_is_bit_identical_to_a_local_run(cluster, tmp_path, spec, reverse):
    local = mt.sample(spec, 30_000, 5, reverse=reverse)
    remote = mt.sample(spec, 30_000, 5, reverse=reverse, chunk_size=8_192, out=tmp_path / "run",
                       scheduler=cluster.scheduler_address)
    for name in local.tables:
        pd.testing.assert_frame_equal(local.tables[name], remote.tables[name], check_exact=True)
    assert len(list((tmp_path / "run" / "chunks").glob("*.npz"))) == (2 if reverse else 1) * 4


@pytest.mark.parametrize("spec,tilt,reverse,n", [
    (mt.examples.ladder_otto(), {"entropy_production": [0.4, 0.8]}, False, 30_000),
    (quench(), {"work": 0.9}, True, 12_000)])
def test_tilted_cluster_run_is_bit_identical_to_a_local_run(cluster, tmp_path, spec, tilt, reverse, n):
    """Tilted runs on the cluster: plain + tilted ensembles (MBAR on the merged counts), and an open
    system's proposals with replayed weights in both directions."""
    local = mt.sample(spec, n, 5, tilt=tilt, reverse=reverse)
    remote = mt.sample(spec, n, 5, chunk_size=8_192, out=tmp_path / "run", reverse=reverse,
                       scheduler=cluster.scheduler_address, tilt=tilt)
    for name in local.tables:
        pd.testing.assert_frame_equal(local.tables[name], remote.tables[name], check_exact=True)
