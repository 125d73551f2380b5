"""BMC discipline: one operation at a time per BMC, and a cap on the controller's operations at once.

A BMC is a small computer: a handful of sessions (ipmi_sim and many real ones: 4), one SOL, and it
answers slowly when a rack's controller asks it everything at once. Every ipmitool call swaplab makes
(the Ansible power module's forks, the run's checks, recoveries in every worker) first takes its
BMC's turn (one flock slot per BMC address) and then one of ``MAX_BMC_OPS`` controller-wide slots,
in that order (no cycle: whoever waits for a controller slot already has its BMC's turn). Locks die
with their process; every wait is bounded. The SOL recorder's one long session is not counted here: a
BMC sees at most that and one command session.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from swaplab import slots

MAX_BMC_OPS = 32  # ipmitool processes at once on one controller
TURN_WAIT_S = 300.0  # a BMC whose turn does not come within this is reported busy
# IPMI's default session inactivity timeout: a killed ipmitool's session is gone from the BMC by then.
QUIET_AFTER_KILL_S = 60.0


def lock_dir() -> Path:
    """Shared by every swaplab process of this controller (root's /run/lock, a tmpfs)."""
    return Path(os.environ.get("SWAPLAB_LOCK_DIR", "/run/lock/swaplab"))


def _name(host: str, port: int) -> str:
    return "bmc-" + re.sub(r"[^A-Za-z0-9.-]", "_", f"{host}-{port}")[:200]


@contextlib.contextmanager
def bmc_turn(host: str, port: int, timeout_s: float = TURN_WAIT_S) -> Iterator[float]:
    """Hold this BMC's turn and a controller slot; yields the seconds waited (a quiet period included)."""
    name = _name(host, port)
    turn = slots.slot(lock_dir(), name, 1, timeout_s, poll_s=0.2)
    controller = slots.slot(lock_dir(), "bmc-ops", MAX_BMC_OPS, timeout_s, poll_s=0.2)
    with turn as waited:  # the BMC's turn first, then a controller slot
        quiet = _quiet_left(name)
        if quiet > 0:  # a killed client's session is still open there: nothing until the BMC drops it
            time.sleep(min(quiet, max(0.0, timeout_s - waited)))
            waited += quiet
        with controller as more:
            yield waited + more


def _quiet_left(name: str) -> float:
    try:
        until = float((lock_dir() / f".{name}.quiet").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, min(until - time.time(), QUIET_AFTER_KILL_S))


def quiet(host: str, port: int, seconds: float = QUIET_AFTER_KILL_S) -> None:
    """A client of this BMC was killed (no answer within its limit): its session, if it had one, stays open on
    the BMC until the BMC's inactivity timeout. The BMC is left alone that long (Beaker's rule), so that
    killed clients cannot pile up past its handful of sessions. Called with the BMC's turn held."""
    path = lock_dir() / f".{_name(host, port)}.quiet"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(f"{time.time() + seconds:.3f}\n")


# -- power-on waves ------------------------------------------------------------------------------------------
WAVE_WAIT_S = 3600.0  # a rack of 500 blades in waves of 10 every ~10 s queues this long at most


@contextlib.contextmanager
def pxe_wave(size: int, pxe_s: float, timeout_s: float = WAVE_WAIT_S) -> Iterator[float]:
    """Power a blade on within a wave: at most ``size`` blades of this controller are in PXE at once.

    Blades that boot together "self-synchronize" in DHCP and TFTP (one dnsmasq, one TFTP server, one NAS
    serving kernels and roots): a bad kernel that hangs a rack, then 100 recoveries at once, would otherwise
    storm the NAS. The caller holds one of ``size`` slots (shared by every swaplab process of the controller:
    the boot play's forks and every recovery) around its power-on, and the place is kept ``pxe_s`` seconds
    after it, the blade's PXE phase (DHCP, iPXE, kernel and initrd), without keeping the caller. ``size`` 0:
    no waves. Yields the seconds waited."""
    if size <= 0:
        yield 0.0
        return
    fd, waited = slots.acquire(lock_dir(), "pxe-wave", size, timeout_s, poll_s=0.5)
    try:
        yield waited
    except BaseException:
        os.close(fd)  # the power-on failed: its place goes to the next blade at once
        raise
    # The blade is in PXE now: its place is kept for pxe_s by a detached holder, not by the caller (a
    # play's fork, a recovery), which goes on at once.
    slots.hold_then_free(fd, pxe_s)
