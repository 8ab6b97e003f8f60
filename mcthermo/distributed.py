"""Chunks on a Dask distributed cluster (extra: dask).

A chunk is a pure function of (spec, seed, direction, first, count), so Dask may retry it or move it
to another worker without changing any result; results are merged exactly as in a local run
(integer counts add, per-block float rows are ordered by trajectory index), hence bit-identical.
"""
from __future__ import annotations

import itertools
import logging
from contextlib import contextmanager

from .chunks import chunk_task

#: chunks in flight on the cluster at once (the plan itself is generated lazily)
WINDOW = 256
#: how long a remote scheduler is tried before it is declared unreachable
CONNECT_TIMEOUT = "30s"


def _dask():
    try:
        import dask.distributed
    except ImportError:
        raise ImportError("Dask runs need Dask distributed: pip install 'mcthermo[dask]'") from None
    return dask.distributed


@contextmanager
def local_cluster():
    """A LocalCluster on this machine (one single-threaded worker process per core, no dashboard,
    only its errors logged): its address."""
    with _dask().LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@contextmanager
def client_for(scheduler: str):
    """A Client for ``scheduler``: "local" starts a LocalCluster, anything else is the address of a
    running scheduler (tcp://host:8786)."""
    if scheduler == "local":
        with local_cluster() as address, _dask().Client(address) as client:
            yield client
    else:
        try:
            client = _dask().Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise ValueError(f"--scheduler {scheduler}: no Dask scheduler reachable there ({error})") from None
        with client:
            yield client


def _chunk_on_worker(spec, seed, direction, first, count, with_samples):
    """Run one chunk with as many Numba threads as the worker has task threads (no oversubscription)."""
    import numba
    from dask.distributed import get_worker

    threads = get_worker().state.nthreads
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    return chunk_task(spec, seed, direction, first, count, with_samples)


def map_chunks(tasks, scheduler: str):
    """Yield ((direction, first, count), (accumulator, rows)) as the cluster completes chunks,
    keeping at most ``WINDOW`` chunks submitted at a time."""
    tasks = iter(tasks)
    with client_for(scheduler) as client:
        futures = {}

        def submit(batch):
            for task in batch:
                spec, seed, direction, first, count, _ = task
                key = f"mcthermo-{spec.name}-{seed}-{direction}-{first}-{count}"
                future = client.submit(_chunk_on_worker, *task, key=key, pure=False, retries=2)
                futures[future] = task
                pending.add(future)

        pending = _dask().as_completed([], with_results=True)
        submit(itertools.islice(tasks, WINDOW))
        for future, result in pending:
            task = futures.pop(future)
            submit(itertools.islice(tasks, 1))
            yield task[2:5], result
