"""``python -m swaplab.guard COMMAND...``: run COMMAND so that it dies with the controller.

ansible-runner starts ansible-playbook as its child; if the controller is killed
(``kill -9``, an OOM kill, a Jenkins agent lost), nothing would stop the
orphaned playbook from going on acting on the lab. The guard sits between
them: the kernel sends it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``),
and it then stops every process it has seen below it (ansible-playbook and its
workers, which run in sessions of their own and would otherwise be reparented
out of reach), by PID and start time. A SIGTERM, SIGINT or SIGHUP from
ansible-runner's own cancel does the same.

Secrets from the environment (a BMC password Jenkins puts in ``SWAPLAB_BMC_PASSWORD``)
are kept out of ansible-runner's hands: it records its child's whole environment
in its artifacts (``command``). swaplab removes them from what it gives
ansible-runner, writes them to a memory-only file (``memfd_create``) it holds
open, and names that descriptor in ``SWAPLAB_SECRET_ENV``; the guard reads it
through ``/proc/PPID/fd/N`` and puts the secrets into the command's
environment, which no file records.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time

from swaplab import proctree

PR_SET_PDEATHSIG = 1
POLL_S = 0.5
SECRET_ENV = "SWAPLAB_SECRET_ENV"  # noqa: S105 - the name of a list of names


def _restore_secrets(parent: int) -> None:
    """Put back the secrets swaplab kept out of ansible-runner: from its memory-only file (a memfd it
    holds open, read through /proc; nothing of it is ever on disk), named in SWAPLAB_SECRET_ENV."""
    fd = os.environ.pop(SECRET_ENV, "")
    if not fd.isdigit():
        return
    try:
        with open(f"/proc/{parent}/fd/{fd}", "rb") as f:
            secrets = json.loads(f.read(1 << 20) or b"{}")
    except (OSError, ValueError):
        return
    for name, value in secrets.items():
        os.environ[str(name)] = str(value)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m swaplab.guard COMMAND [ARG...]", file=sys.stderr)
        return 2
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 2
    _restore_secrets(parent)
    stop: list[int] = []
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda signum, _f: stop.append(signum))
    child = os.fork()
    if child == 0:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)  # noqa: S606 - the command line the caller gave, as is
        finally:
            os._exit(127)
    seen: dict[int, proctree.Proc] = {}
    while not stop:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid == child:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        for proc in proctree.descendants(os.getpid()):
            seen[proc[0]] = proc
        time.sleep(POLL_S)
    seen.update({p[0]: p for p in proctree.descendants(os.getpid())})
    proctree.stop(list(seen.values()))
    return 128 + stop[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
