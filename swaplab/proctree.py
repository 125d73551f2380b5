"""The processes this one started, found and stopped by PID (never by name).

ansible-playbook runs its tasks in worker processes of their own session, so
stopping ansible-playbook alone leaves a worker (and its ssh) running against
the lab. ``descendants`` takes the tree while it is still whole; ``stop`` ends
each process in it that is still the same process (its start time unchanged).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot): a PID alone could be reused


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start time) of ``pid``, or None if it is gone (or a zombie: dead, not yet reaped)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ... starttime is the 20th
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid`` now, children first."""
    children: dict[int, list[Proc]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                children.setdefault(st[0], []).append((int(entry.name), st[1]))
    out: list[Proc] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            out.append(child)
            todo.append(child[0])
    return out


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if it is gone or a zombie."""
    st = _stat(pid)
    return None if st is None else st[1]


def alive(proc: Proc) -> bool:
    st = _stat(proc[0])
    return st is not None and st[1] == proc[1]


def stop(procs: list[Proc], grace_s: float = 5.0) -> list[int]:
    """SIGTERM each process still alive, SIGKILL what is left after ``grace_s``; the PIDs signalled.

    Returns once every process is gone (or 2 s after the SIGKILLs).
    """
    signalled = []
    for p in procs:
        if alive(p):
            os.kill(p[0], signal.SIGTERM)
            signalled.append(p[0])
    _wait_gone(procs, grace_s)
    for p in procs:
        if alive(p):
            os.kill(p[0], signal.SIGKILL)
    _wait_gone(procs, 2.0)  # SIGKILL is delivered asynchronously: return once they are gone
    return signalled


def _wait_gone(procs: list[Proc], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in procs):
        time.sleep(0.02)
