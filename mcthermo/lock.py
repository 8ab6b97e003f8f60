"""One writer per run directory: an exclusive advisory lock on ``<out>/.lock`` (POSIX flock).

The lock is held by an open file descriptor, so the operating system releases it when the writer
exits for any reason (kill -9 included); a stale ``.lock`` file never blocks a later run.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from .io import MCThermoFileError

LOCK_FILE = ".lock"


@contextmanager
def run_lock(directory: Path):
    """Hold the lock of ``directory`` (created if needed) or refuse at once if another process
    holds it."""
    directory = Path(directory)
    path = directory / LOCK_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:  # a read-only place, a path below /proc, a missing mount
        raise MCThermoFileError(f"--out {directory}: cannot write there ({error.strerror}: "
                                f"{error.filename})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(path).read_text().strip() or "another process"
            raise MCThermoFileError(f"{directory}: another mcthermo process ({holder}) is writing this "
                                    "run; wait for it to finish, then rerun to resume") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        yield
    finally:
        os.close(fd)
