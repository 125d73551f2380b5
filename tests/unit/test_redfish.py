"""The Redfish power driver: sushy against the real sushy-emulator (https, a lab CA, basic auth),
whose systems driver powers a (fake) QMP socket. Only the QEMU end is a fake (tests/unit/fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swaplab.drivers import power_driver
from swaplab.drivers.protocols import PowerState
from swaplab.drivers.redfishdriver import RedfishError, RedfishPowerDriver
from swaplab.lab import bmc as vbmc
from swaplab.lab import procs
from tests.unit.fakes import FakeQMP

PASSWORD = "rf-" + "Qz81k"


@pytest.fixture
def redfish(tmp_path: Path) -> Iterator[tuple[FakeQMP, vbmc.RedfishBMC]]:
    qmp = FakeQMP(tmp_path / "blade1.qmp")
    (tmp_path / "blade1.qmp.off").touch()
    b = vbmc.start_redfish(tmp_path, [{"name": "blade1", "qmp": str(qmp.path), "mac": "52:54:00:00:00:11"}], PASSWORD)
    yield qmp, b
    procs.stop(Path(b.pidfile))  # TERM, then KILL; reaped, gone
    qmp.close()


def test_power_and_a_one_time_pxe_override_over_https(redfish: tuple[FakeQMP, vbmc.RedfishBMC]) -> None:
    qmp, b = redfish
    drv = RedfishPowerDriver(b.url, vbmc.BMC_USER, PASSWORD, verify=b.ca, system="blade1")
    assert drv.status() is PowerState.OFF
    drv.cycle()
    assert drv.status() is PowerState.ON and qmp.running
    log = [line.split(None, 1)[1] for line in (Path(b.state_dir) / "blade1" / "redfish.log").read_text().splitlines()]
    acts = [entry for entry in log if not entry.startswith("power?")]
    assert acts == ["boot Pxe", "power On"]  # the override first, then the power-on
    drv.cycle()
    assert "system_reset" in qmp.calls and qmp.running
    drv.off()
    assert drv.status() is PowerState.OFF and not qmp.running


def test_a_wrong_password_is_refused(redfish: tuple[FakeQMP, vbmc.RedfishBMC]) -> None:
    _, b = redfish
    with pytest.raises(RedfishError, match="wrong user or password"):
        RedfishPowerDriver(b.url, vbmc.BMC_USER, "nope", verify=b.ca).status()


def test_the_certificate_is_verified_by_default(redfish: tuple[FakeQMP, vbmc.RedfishBMC]) -> None:
    _, b = redfish
    with pytest.raises(RedfishError, match="certificate"):
        RedfishPowerDriver(b.url, vbmc.BMC_USER, PASSWORD).status()  # the system's CAs do not know the lab's
    # verify: false, written out, is accepted.
    assert RedfishPowerDriver(b.url, vbmc.BMC_USER, PASSWORD, verify=False).status() is PowerState.OFF


def test_the_registry_builds_it() -> None:
    drv = power_driver({"driver": "redfish", "url": "https://bmc.lab", "user": "u", "password": "p", "verify": False})
    assert isinstance(drv, RedfishPowerDriver) and drv.verify is False
