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
from collections.abc import Iterator
from pathlib import Path

from swaplab import slots

MAX_BMC_OPS = 32  # ipmitool processes at once on one controller
TURN_WAIT_S = 300.0  # a BMC whose turn does not come within this is reported busy


def lock_dir() -> Path:
    """Shared by every swaplab process of this controller (root's /run/lock, a tmpfs)."""
    return Path(os.environ.get("SWAPLAB_LOCK_DIR", "/run/lock/swaplab"))


@contextlib.contextmanager
def bmc_turn(host: str, port: int, timeout_s: float = TURN_WAIT_S) -> Iterator[float]:
    """Hold this BMC's turn and a controller slot; yields the seconds waited."""
    name = "bmc-" + re.sub(r"[^A-Za-z0-9.-]", "_", f"{host}-{port}")[:200]
    turn = slots.slot(lock_dir(), name, 1, timeout_s, poll_s=0.2)
    controller = slots.slot(lock_dir(), "bmc-ops", MAX_BMC_OPS, timeout_s, poll_s=0.2)
    with turn as waited, controller as more:  # in this order: the BMC's turn first
        yield waited + more
