"""One shape for what gives a run its rack of blades: ``RackProvider``.

Three things give swaplab blades, and each is the same thing to a run: it may need bringing up, it then
has an inventory (the same groups and variables whoever wrote it), and what it started is brought down
at the end, by PID.

- **a rack** (``PhysicalRack``): a lab's own blades behind their BMCs; its inventory is the lab's
  (``-i``), there is nothing to bring up or down;
- **the virtual lab** (``swaplab.lab.provider.VirtualLab``): QEMU blades that really PXE-boot from a NAS;
- **a simulated rack** (``swaplab.sim.provider.SimRack``): real sshd, ipmi_sim BMCs and serial lines,
  no kernel, for the controller at rack scale.

Both generated inventories are written by one typed writer (``swaplab.inventory.writer.RackInventory``),
and both chassis programs behind ipmi_sim serve the same requests (``swaplab.lab.chassis.serve`` over a
``ChassisPower``), so a rack, emulated, simulated or real, is reached by the same drivers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

Log = Callable[[str], None]


class RackProvider(Protocol):
    """What brings a rack up for a run and down after it."""

    @property
    def kind(self) -> str:
        """In the run's words: "the virtual lab", "a simulated rack", "the rack"."""
        ...

    def problems(self) -> list[str]:
        """What stops it coming up, each with its fix (empty: nothing); nothing is started to find out."""
        ...

    def prepare(self, log: Log) -> None:
        """Make what ``up`` needs and may keep between runs (the virtual lab's images)."""
        ...

    def up(self, log: Log) -> Path:
        """Bring it up; its inventory's path."""
        ...

    def down(self, log: Log) -> list[str]:
        """Stop what ``up`` started, by PID; what could not be stopped (empty: everything)."""
        ...


@dataclass(frozen=True)
class PhysicalRack:
    """A lab's rack: its inventory, written by the lab. Its blades are up or powered by their BMCs; swaplab
    starts nothing to have them and stops nothing after."""

    inventory: Path
    kind: str = "the rack"

    def problems(self) -> list[str]:
        """Nothing beyond the inventory itself, which ``swaplab.inventory.load_and_validate`` checks with the
        rest of a run's input (and every BMC and blade it names, ``lab_problems``)."""
        return []

    def prepare(self, log: Log) -> None:
        return None

    def up(self, log: Log) -> Path:
        return self.inventory

    def down(self, log: Log) -> list[str]:
        return []
