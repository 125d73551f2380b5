"""At most K of something at once across a run's processes (one pytest-xdist worker per blade): K lock
files in the run directory, each held with ``flock`` while the thing is done.

Used for recoveries: a bad kernel can hang most of a rack at once, and each recovery is a playbook and
a PXE boot; ``--max-recoveries`` of them run at once and the others queue. A lock dies with its process
(a killed worker frees its slot); the wait is bounded (``SlotTimeout``): the harness never waits forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from swaplab import errors


class SlotTimeout(errors.Infrastructure):
    pass


def acquire(directory: Path, name: str, count: int, timeout_s: float, poll_s: float = 0.5) -> tuple[int, float]:
    """One of ``count`` slots named ``name`` in ``directory``: the locked file's descriptor (closing every copy
    of it frees the slot) and how long it waited. ``SlotTimeout`` past ``timeout_s``."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    t0 = time.monotonic()
    while True:
        for i in range(count):
            fd = os.open(directory / f".{name}-slot-{i}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd, time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            raise SlotTimeout(f"no {name} slot of {count} came free within {timeout_s:.0f} s")
        time.sleep(poll_s)


@contextlib.contextmanager
def slot(directory: Path, name: str, count: int, timeout_s: float, poll_s: float = 0.5) -> Iterator[float]:
    """Hold one of ``count`` slots named ``name`` in ``directory``; yields how long it waited for it."""
    fd, waited = acquire(directory, name, count, timeout_s, poll_s)
    try:
        yield waited
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def hold_then_free(fd: int, seconds: float) -> None:
    """Keep the slot of ``fd`` ``seconds`` longer without keeping the caller: a detached process (double fork,
    own session, no stdio) inherits the lock, sleeps and exits, which frees it; the caller's copy is closed.
    (A lock dies with its process: a killed holder frees the slot too.)"""
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked process
        try:
            if os.fork() != 0:
                os._exit(0)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for std in (0, 1, 2):
                os.dup2(null, std)
            os.closerange(3, fd)
            os.closerange(fd + 1, 1 << 16)
            time.sleep(seconds)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    os.close(fd)
