"""What a run asks of its suites: ``Settings``, written by ``swaplab run`` into the run directory and read
by every pytest worker; and ``InfraError``, the suites' word for "swaplab could not test this blade"."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplab import errors
from swaplab.inventory import Inventory
from swaplab.kernel.under_test import KernelUnderTest
from swaplab.options import RunOptions

# 2: console {driver, path[, qmp_socket]}; 3: options: RunOptions; 4: prior; 5: the load budget is an option;
# 6: the validated inventory itself (a recovery reloads nothing), the kernel typed (KernelUnderTest);
# 7: the run's deadline for its trials (--run-budget)
CONTEXT_SCHEMA = 7


class InfraError(errors.Infrastructure):
    """swaplab could not test this blade (unreachable, no answer within budget): a JUnit <error>."""


@dataclass
class Settings:
    """What a run does; written by ``swaplab run`` into the run directory for the suites.

    ``options`` is the run's own ``RunOptions`` (trials, working set, gate, fio sizes): the suites read
    them there, never a copy."""

    run_dir: str
    inventory: str
    ssh_config: str
    control_dir: str
    blades: dict[str, dict[str, Any]]  # name -> {"console": {driver, path[, qmp_socket]} | None}
    kernel: KernelUnderTest | None = None  # typed across the pytest boundary (None: unit tests' sessions)
    options: RunOptions = field(default_factory=RunOptions)
    # A resumed run: per blade, the records of cases that finished before (hog trials, first-contact facts).
    prior: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nas: str = ""  # the NAS's host name in ssh_config (the fault scenarios that act on it)
    resumed: bool = False  # `run --resume`: the blades may still run the interrupted run's loads
    virtual: bool = False  # the blades are the virtual lab's QEMU machines (their emulator's stalls are judged)
    # What `ansible-inventory --list` gave the run, validated before anything started: the suites and a
    # recovery rebuild the ``Inventory`` from it (``inv``) and never run ansible-inventory again.
    inventory_data: dict[str, Any] = field(default_factory=dict)
    # When the hog trials must be over for the run to end within --run-budget (seconds since the epoch:
    # the pytest workers are processes of their own); None: no budget.
    deadline: float | None = None
    schema: int = CONTEXT_SCHEMA

    def inv(self) -> Inventory:
        """The run's validated inventory, typed again from what the run wrote (no ansible-inventory)."""
        if not self.inventory_data:
            raise errors.SwaplabBug("the run's context holds no inventory: a run wrote it without one")
        return Inventory.of(self.inventory, self.inventory_data)

    def save(self, path: Path) -> None:
        data = {**self.__dict__, "options": self.options.to_json(),
                "kernel": self.kernel.to_json() if self.kernel else None}  # fmt: skip
        path.write_text(json.dumps(data, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = json.loads(path.read_text())
        if data.get("schema") != CONTEXT_SCHEMA:
            raise ValueError(f"{path}: context schema {data.get('schema')} is not {CONTEXT_SCHEMA}")
        kernel = KernelUnderTest.from_json(data["kernel"]) if data.get("kernel") else None
        return cls(**{**data, "options": RunOptions.from_json(data.get("options", {})), "kernel": kernel})
