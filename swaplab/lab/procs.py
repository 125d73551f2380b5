"""The lab's own processes, by pidfile: is one alive, stop it (TERM, then KILL, reaped), a free port on
loopback, and the NAS's ssh banner awaited. Only what the lab started, by the PID it wrote."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from swaplab import errors, proctree


class LabError(errors.Infrastructure):
    pass


def free_port(preferred: int = 12222) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise LabError("no free TCP port on 127.0.0.1")


def alive(pid: int) -> bool:
    """Is ``pid`` a live process? A child of ours that exited is reaped here; a zombie counts as dead
    (the BMC processes are children of whoever brought the lab up: `swaplab run` itself, say)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return proctree.start_time(pid) is not None


def pid_of(pidfile: Path) -> int | None:
    """The PID in ``pidfile`` if that process is alive."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


NAS_STOP_S = 30.0  # a container's systemd shuts down in a few seconds; QEMU at once


def stop(pidfile: Path, timeout: float = 10.0) -> bool:
    """Stop the process in ``pidfile`` (TERM, then KILL) and wait until it is gone.

    The PID is read once: QEMU removes its own pidfile while it exits, so the
    file cannot tell whether the process is still there."""
    pid = pid_of(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.1)
    # Dead: a zombie whose parent is gone is reaped by init in a moment; wait for that (bounded), so
    # that nothing of the lab is left in the process table when `down` returns.
    gone_by = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < gone_by:
        time.sleep(0.05)
    pidfile.unlink(missing_ok=True)
    return True


def wait_ssh_banner(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=5) as s:
            s.settimeout(10)
            if s.recv(64).startswith(b"SSH-"):
                return
        time.sleep(1)
    raise LabError(f"the NAS did not answer ssh on {host}:{port} within {timeout:.0f} s")
