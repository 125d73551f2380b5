"""What a blade session may ask of the lab around it, handed to it by whoever builds the session.

``BladeSession`` runs loads on a blade and judges them; it imports no lab or provisioning code. The
suites' conftest gives it these hooks, built from the lab and the provisioning by
``swaplab.labhooks.for_settings``; a unit test gives fakes, or none (no fault, no host-load figures,
and a hung blade that cannot be power-cycled is quarantined).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from swaplab.detect import Finding
from swaplab.drivers.protocols import ConsoleProtocol
from swaplab.records import FaultRecord, Recovery


class HostLoadProbe(Protocol):
    """The host's CPU pressure and the blade emulator's CPU time while a load runs (virtual blades)."""

    starved_pct: float  # pressure at or over this much is starvation

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def starved(self, at: float) -> float | None:
        """The pressure in the minute before ``at`` (epoch) if it was starvation, else None."""

    def last_at(self) -> float | None:
        """When the last sample was taken (epoch), if any."""

    def figures(self) -> tuple[float | None, float | None, float]:
        """(CPU pressure %, emulator CPU seconds, wall seconds) over the load."""


class ArmedFault(Protocol):
    """A fault due during one load (`run --fault`): injected on its timer, its timeline recorded."""

    def start(self) -> None: ...
    def finish(self) -> None:
        """Wait (bounded) for the injection to end."""

    def record(self, load_started: float, arrivals: Sequence[tuple[float, Finding]], detected_at: float | None,
               recovery: Recovery | None) -> FaultRecord:  # fmt: skip
        """Its timeline in seconds into the load: injected, ended, first symptom, detected, recovered."""


# (blade, directory for its evidence, progress) -> (recovered, why not): the boot and swap plays, forced.
Reprovision = Callable[[str, Path, Callable[[str], None]], tuple[bool, str]]
# (blade, load id, its console, progress) -> the fault due in that load, if any.
FaultFor = Callable[[str, str, ConsoleProtocol | None, Callable[[str], None]], ArmedFault | None]


@dataclass(frozen=True)
class LabHooks:
    reprovision: Reprovision | None = None
    host_load: Callable[[str], HostLoadProbe | None] | None = None
    fault: FaultFor | None = None
