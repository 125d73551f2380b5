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


class SlotTimeout(Exception):
    pass


@contextlib.contextmanager
def slot(directory: Path, name: str, count: int, timeout_s: float, poll_s: float = 0.5) -> Iterator[float]:
    """Hold one of ``count`` slots named ``name`` in ``directory``; yields how long it waited for it."""
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
            try:
                yield time.monotonic() - t0
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if time.monotonic() - t0 > timeout_s:
            raise SlotTimeout(f"no {name} slot of {count} came free within {timeout_s:.0f} s")
        time.sleep(poll_s)
