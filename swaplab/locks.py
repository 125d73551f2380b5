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


def try_hold(path: Path, what: str) -> int | None:
    """``path``'s exclusive lock (the file created 0600, never followed through a link), taken now: its
    descriptor, held until closed (or the process ends); None while another holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise LockError(f"{what}: cannot open the lock {path} ({e.strerror}; a link is never followed)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def turn(path: Path, what: str, log: Callable[[str], None], timeout_s: float) -> Iterator[None]:
    """Hold ``path``'s lock for the ``with`` block, waiting at most ``timeout_s`` for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    said = False
    while (fd := try_hold(path, what)) is None:
        if time.monotonic() >= deadline:
            raise LockTimeout(f"{what}: another swaplab has held {path} for over {timeout_s:.0f} s; "
                              "let it finish, or stop it")  # fmt: skip
        if not said:
            log(f"{what}: waiting for another swaplab to finish (it holds {path})")
            said = True
        time.sleep(POLL_S)
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
