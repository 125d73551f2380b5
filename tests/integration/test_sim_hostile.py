"""A real simulated rack (``swaplab.sim``) whose directory has been tampered with: `down` stops only what `up`
started and removes only the directory it made. Before (04c02ea): `down DIR` removed any directory and
signalled whatever process a pidfile in it named, even one in another mount namespace, and every process in
whatever namespace a blade's `mnt.ns` linked to."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swaplab import proctree
from swaplab.lab.bmc import PASSWORD_ENV
from swaplab.sim import rack as sim

pytestmark = pytest.mark.integration


def test_a_forged_pidfile_in_a_real_rack_signals_nothing_that_is_not_the_racks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if found := sim.problems(["r1-b01"]):
        pytest.fail(f"the simulated rack cannot run here: {'; '.join(found)}")
    monkeypatch.setenv(PASSWORD_ENV, "sim-" + os.urandom(4).hex())
    rack = tmp_path / "rack"
    sim.up(rack, ["r1-b01"], "6.1.0-test", boot_s=1.0, trial_s=2.0)
    # Another process, in another mount namespace (as a blade's would be), that the rack did not start.
    outsider = subprocess.Popen(["unshare", "--mount", "--", "sleep", "120"], start_new_session=True)
    try:
        time.sleep(0.3)
        victims = [outsider.pid, *(p for p, _ in proctree.descendants(outsider.pid))]
        for i, pid in enumerate(victims):
            (rack / "pids" / f"forged{i}.pid").write_text(f"{pid} {proctree.start_time(pid)}\n")
        (rack / "pids" / "init.pid").write_text(f"1 {proctree.start_time(1)}\n")
        # A blade "namespace" that is a link to the outsider's mount namespace: every process in it would go.
        sleeper = next(p for p in victims if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"sleep"))
        (rack / "blades" / "evil").mkdir()
        (rack / "blades" / "evil" / "mnt.ns").symlink_to(f"/proc/{sleeper}/ns/mnt")
        rackd = sim._proc(rack / "pids" / "rackd.pid")
        assert proctree.alive(rackd)
        r = subprocess.run([sys.executable, "-m", "swaplab.sim", "down", str(rack)], capture_output=True, text=True,
                           timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert not rack.exists() and not proctree.alive(rackd)  # the rack's own went
        assert outsider.poll() is None and all(proctree.start_time(p) for p in victims)  # the others did not
    finally:
        outsider.kill()
        outsider.wait()


def test_down_of_a_directory_the_rack_did_not_make_leaves_it_whole(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "blades" / "b1").mkdir(parents=True)
    (home / "blades" / "b1" / "mnt.ns").write_text("a plain file: its inode number is no namespace")
    (home / "precious").write_text("x")
    r = subprocess.run([sys.executable, "-m", "swaplab.sim", "down", str(home)], capture_output=True, text=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 2 and "is not a simulated rack" in r.stderr
    assert (home / "precious").read_text() == "x"
