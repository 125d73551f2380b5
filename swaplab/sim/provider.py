"""A simulated rack as a ``RackProvider`` (``swaplab.inventory.provider``): real sshd, ipmi_sim BMCs and
serial lines for N blades without a kernel (``swaplab.sim.rack``), its inventory written by the same typed
writer as the virtual lab's; brought down by PID."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swaplab.inventory.provider import Log
from swaplab.sim import rack


@dataclass
class SimRack:
    directory: Path
    names: list[str]
    release: str  # what the blades answer to uname -r
    boot_s: float = 3.0
    trial_s: float = 20.0
    blade_vars: dict[str, float | int] = field(default_factory=dict)
    kind: str = "a simulated rack"

    def problems(self) -> list[str]:
        return rack.up_problems(self.directory, self.names)

    def prepare(self, log: Log) -> None:
        return None

    def up(self, log: Log) -> Path:
        inventory = rack.up(self.directory, self.names, self.release, self.boot_s, self.trial_s, self.blade_vars)
        log(f"{self.kind} of {len(self.names)} blade(s) up in {self.directory}")
        return inventory

    def down(self, log: Log) -> list[str]:
        return rack.down(self.directory)
