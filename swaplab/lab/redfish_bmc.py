"""``python -m swaplab.lab.redfish_bmc --config FILE``: sushy-emulator in front of the virtual blades.

The real emulator from sushy-tools (its Flask routes, basic auth, https, errors)
with a systems driver of swaplab's in place of libvirt: sushy-emulator has no
plug-in point, but looks its fake driver up by name when a request needs it, so
this module puts ``QMPSystemsDriver`` under that name and runs the emulator's
own ``main()`` with ``--fake``. Each system is a blade, powered through its QMP
socket like the IPMI chassis helper does; a boot override is recorded in the
blade's state directory (with every request, in ``redfish.log``) and consumed
by the next power-on or restart. The emulator stores every override as
Continuous whatever is sent, so a test checks what was requested, not a read-back.

The config file (Python, as sushy-emulator reads it) names the systems in
``SWAPLAB_SYSTEMS``: dicts of uuid, name, qmp, mac and state_dir.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from sushy_tools import error
from sushy_tools.emulator.resources.systems import fakedriver
from sushy_tools.emulator.resources.systems.base import AbstractSystemsDriver

from swaplab.drivers.protocols import PowerState
from swaplab.drivers.qmpdriver import QMPPowerDriver


class QMPSystemsDriver(AbstractSystemsDriver):  # type: ignore[misc]
    _config: ClassVar[dict[str, Any]] = {}
    _logger: Any = None

    @classmethod
    def initialize(cls, config: dict[str, Any], logger: Any, *args: Any, **kwargs: Any) -> type[QMPSystemsDriver]:
        cls._config = config
        cls._logger = logger
        return cls

    def __init__(self) -> None:
        super().__init__()
        self._by_uuid = {s["uuid"]: s for s in self._config.get("SWAPLAB_SYSTEMS", [])}
        self._by_name = {s["name"]: s for s in self._by_uuid.values()}

    # -- lookup -----------------------------------------------------------------
    def _get(self, identity: str) -> dict[str, Any]:
        system: dict[str, Any] | None = self._by_uuid.get(identity) or self._by_name.get(identity)
        if system is None:
            raise error.NotFound(f"no system {identity}")
        return system

    def _log(self, system: dict[str, Any], text: str) -> None:
        with (Path(system["state_dir"]) / "redfish.log").open("a") as f:
            f.write(f"{time.time():.3f} {text}\n")

    def _power(self, system: dict[str, Any]) -> QMPPowerDriver:
        return QMPPowerDriver(system["qmp"])

    @property
    def driver(self) -> str:
        return "<swaplab-qmp>"

    @property
    def systems(self) -> list[str]:
        return list(self._by_uuid)

    def uuid(self, identity: str) -> str:
        return str(self._get(identity)["uuid"])

    def name(self, identity: str) -> str:
        return str(self._get(identity)["name"])

    # -- power ------------------------------------------------------------------
    def get_power_state(self, identity: str) -> str:
        system = self._get(identity)
        state = self._power(system).status()
        answer = "Off" if state in (PowerState.OFF, PowerState.UNKNOWN) else "On"
        self._log(system, f"power? {answer} ({state.value})")
        return answer

    def set_power_state(self, identity: str, state: str) -> None:
        system = self._get(identity)
        self._log(system, f"power {state}")
        drv = self._power(system)
        boot = Path(system["state_dir"]) / "boot-once"
        if state in ("On",):
            boot.unlink(missing_ok=True)
            drv.on()
        elif state in ("ForceOff", "GracefulShutdown"):
            drv.off()
        elif state in ("ForceRestart", "GracefulRestart", "PowerCycle"):
            boot.unlink(missing_ok=True)
            if drv.status() is PowerState.ON:
                drv.cycle()
            else:
                drv.on()
        elif state == "Nmi":
            drv.qmp.execute("inject-nmi")
        else:
            raise error.BadRequest(f"unknown reset type {state}")

    # -- boot -------------------------------------------------------------------
    def get_boot_device(self, identity: str) -> str:
        boot = Path(self._get(identity)["state_dir"]) / "boot-once"
        return "Pxe" if boot.exists() else "Hdd"

    def set_boot_device(self, identity: str, boot_source: str) -> None:
        system = self._get(identity)
        self._log(system, f"boot {boot_source}")
        (Path(system["state_dir"]) / "boot-once").write_text(boot_source + "\n")

    def get_boot_mode(self, identity: str) -> str:
        return "Legacy"

    def set_boot_mode(self, identity: str, boot_mode: str) -> None:
        if boot_mode != "Legacy":
            raise error.BadRequest("virtual blades boot SeaBIOS (Legacy) only")

    def get_nics(self, identity: str) -> list[dict[str, str]]:
        mac = self._get(identity)["mac"]
        return [{"id": mac, "mac": mac}]


def main(argv: list[str]) -> int:
    fakedriver.FakeDriver = QMPSystemsDriver  # looked up by this name at each request
    from sushy_tools.emulator import main as emulator

    sys.argv = ["sushy-emulator", "--fake", *argv]
    return int(emulator.main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
