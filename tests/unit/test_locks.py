"""Taking turns on the controller (``swaplab.locks``): a second swaplab waits its bound for the first, says
so once, and gives up as an infrastructure error naming the lock; a lock file is never followed through a
link."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swaplab import errors, locks

CONTENDER = """
import sys
from pathlib import Path
from swaplab import errors, locks
try:
    with locks.turn(Path(sys.argv[1]), "provisioning nas", print, float(sys.argv[2])):
        print("got it")
except locks.LockTimeout as e:
    print("gave up:", e, "exit", errors.exit_code(e))
"""


def _contend(lock: Path, wait_s: float) -> str:
    return subprocess.run([sys.executable, "-c", CONTENDER, str(lock), str(wait_s)], capture_output=True, text=True,
                          timeout=60, check=True).stdout  # fmt: skip


def test_a_second_swaplab_waits_its_bound_then_gives_up_naming_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "provision-nas.lock"
    with locks.turn(lock, "provisioning nas", print, 5):
        out = _contend(lock, 2)
    assert "waiting for another swaplab to finish" in out and out.count("waiting") == 1
    assert f"gave up: provisioning nas: another swaplab has held {lock} for over 2 s" in out
    assert "exit 2" in out  # an infrastructure error, never the kernel's
    assert "got it" in _contend(lock, 2)  # released when the holder's block ended
    assert lock.stat().st_mode & 0o777 == 0o600


def test_a_lock_file_is_never_followed_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not swaplab's\n")
    (tmp_path / "build.lock").symlink_to(target)
    with pytest.raises(locks.LockError, match="a link is never followed"), \
            locks.turn(tmp_path / "build.lock", "kernel build", print, 1):  # fmt: skip
        pass
    assert target.read_text() == "not swaplab's\n"
    assert issubclass(locks.LockTimeout, errors.Infrastructure)
