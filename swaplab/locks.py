"""Waiting one's turn on the controller: an exclusive lock on a file of its own, waited for with a bound.

Two runs from one controller may share a NAS (a bisection's groups of blades, two Jenkins jobs): their
provisioning of it takes turns, and so do kernel builds in one build cache. Each waits at most its bound,
saying once that it waits and for what, then gives up as an infrastructure error naming the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from swaplab import errors

POLL_S = 1.0


class LockError(errors.Infrastructure):
    """The lock file cannot be opened (a link where it should be, no room, no permission)."""


class LockTimeout(LockError):
    """Another swaplab held the lock for longer than this one could wait."""


@contextlib.contextmanager
def turn(path: Path, what: str, log: Callable[[str], None], timeout_s: float) -> Iterator[None]:
    """Hold ``path``'s lock (created 0600, never followed through a link) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise LockError(f"{what}: cannot open the lock {path} ({e.strerror}; a link is never followed)") from None
    try:
        deadline = time.monotonic() + timeout_s
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{what}: another swaplab has held {path} for over {timeout_s:.0f} s; "
                                      "let it finish, or stop it") from None  # fmt: skip
                if not said:
                    log(f"{what}: waiting for another swaplab to finish (it holds {path})")
                    said = True
                time.sleep(POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
