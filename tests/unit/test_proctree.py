"""Finding and stopping the processes we started, by PID (real processes, no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from swaplab import proctree


def test_a_tree_in_its_own_session_is_found_and_stopped() -> None:
    # A child that starts a grandchild in a new session (as ansible's workers are) and ignores SIGTERM.
    code = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        tree: list[proctree.Proc] = []
        while time.monotonic() < deadline and len(tree) < 2:
            tree = proctree.descendants(os.getpid())
            time.sleep(0.05)
        pids = [p for p, _ in tree]
        assert pids[0] == child.pid and len(pids) == 2, tree
        assert all(proctree.alive(p) for p in tree)
        assert proctree.stop(tree, grace_s=0.5) == pids
        child.wait(timeout=5)  # it ignored SIGTERM: SIGKILL ended it
        assert not any(proctree.alive(p) for p in tree)
    finally:
        if child.poll() is None:
            child.kill()


def test_a_reused_pid_is_not_the_same_process() -> None:
    me = proctree.descendants(os.getppid())
    mine = next(p for p in me if p[0] == os.getpid())
    assert proctree.alive(mine)
    assert not proctree.alive((mine[0], mine[1] + 1))  # same PID, other start time: leave it alone
