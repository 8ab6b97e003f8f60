"""Chunks on a Dask distributed cluster (extra: dask).

A chunk is a pure function of (spec, seed, direction, first, count), so Dask may retry it or move it
to another worker without changing any result; results are merged exactly as in a local run
(integer counts add, per-block float rows are ordered by trajectory index), hence bit-identical.
"""
from __future__ import annotations

from contextlib import contextmanager


def _dask():
    try:
        import dask.distributed
    except ImportError:
        raise ImportError("Dask runs need Dask distributed: pip install 'mcthermo[dask]'") from None
    return dask.distributed


@contextmanager
def local_cluster():
    """A LocalCluster on this machine (one single-threaded worker process per core): its address."""
    with _dask().LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@contextmanager
def client_for(scheduler: str):
    """A Client for ``scheduler``: "local" starts a LocalCluster, anything else is the address of a
    running scheduler (tcp://host:8786)."""
    if scheduler == "local":
        with local_cluster() as address, _dask().Client(address) as client:
            yield client
    else:
        with _dask().Client(scheduler, timeout="30s") as client:
            yield client


def _chunk_on_worker(spec, seed, direction, first, count, with_samples):
    """Run one chunk with as many Numba threads as the worker has task threads (no oversubscription)."""
    import numba
    from dask.distributed import get_worker

    from .runner import _chunk_task

    threads = get_worker().state.nthreads
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    return _chunk_task(spec, seed, direction, first, count, with_samples)


def map_chunks(tasks, scheduler: str):
    """Yield ((direction, first, count), (accumulator, rows)) as the cluster completes chunks."""
    from dask.distributed import as_completed

    with client_for(scheduler) as client:
        futures = {}
        for task in tasks:
            spec, seed, direction, first, count, _ = task
            key = f"mcthermo-{spec.name}-{seed}-{direction}-{first}-{count}"
            futures[client.submit(_chunk_on_worker, *task, key=key, pure=False, retries=2)] = task
        for future, result in as_completed(futures, with_results=True):
            yield futures[future][2:5], result
