"""The virtual lab as a ``RackProvider`` (``swaplab.inventory.provider``): images built, a NAS and QEMU
blades that PXE-boot from it brought up (``machines.up``), its inventory written by ``labinventory``;
brought down by PID (``machines.down``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from swaplab.inventory.provider import Log
from swaplab.labshape import LabShape
from swaplab.repo import VIRTUAL_INVENTORY

from . import bmc, hostnas, images, machines
from .paths import LabPaths


@dataclass
class VirtualLab:
    names: list[str]
    memory_mib: int
    shape: LabShape
    paths: LabPaths = field(default_factory=LabPaths.default)
    kind: str = "the virtual lab"

    def problems(self) -> list[str]:
        """Its blades' memory, the host NAS's needs, and no lab already up (the names are an option's)."""
        found = [p for p in (machines.blade_memory_problem(self.memory_mib),) if p]
        if self.shape.nas == "host":
            found += hostnas.problems()
        if machines.running(self.paths):
            found.append(
                f"a virtual lab is already up in {self.paths.run}: `swaplab run` brings up its own; run "
                "`swaplab lab down` first, or pass -i inventories/virtual/hosts.yml to test that lab"
            )
        return found

    def prepare(self, log: Log) -> None:
        images.build(self.paths, log)

    def up(self, log: Log) -> Path:
        if self.shape.bmc != "qmp" and not os.environ.get(bmc.PASSWORD_ENV):
            # The virtual BMCs' password: made up for this run, handed to Ansible through the environment
            # only (the generated inventory looks it up), never written to the run.
            os.environ[bmc.PASSWORD_ENV] = bmc.new_password()
        machines.up(self.paths, len(self.names), self.memory_mib, log, shape=self.shape, names=self.names)
        return VIRTUAL_INVENTORY

    def down(self, log: Log) -> list[str]:
        """Every process of the lab stopped by its pidfile (``machines.down``)."""
        machines.down(self.paths, log)
        return []
