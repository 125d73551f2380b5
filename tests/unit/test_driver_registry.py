"""The one registry of power drivers and of consoles: each entry checks its settings and builds
its driver; pausing is the virtual lab's (QMP), and a rack's drivers do not pretend to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplab.drivers import CONSOLE, CONSOLES, POWER, console_driver, console_problems, power_driver
from swaplab.drivers.ipmidriver import IPMIPowerDriver
from swaplab.drivers.protocols import PausableProtocol
from swaplab.drivers.qmpdriver import QMPPowerDriver
from tests.unit.fakes import FakeQMP


def test_every_registered_driver_builds_from_the_registry(tmp_path: Path) -> None:
    assert set(POWER) == {"qmp", "ipmi", "redfish"} and all(spec.build is not None for spec in POWER.values())
    qmp = FakeQMP(tmp_path / "b.qmp")
    try:
        assert isinstance(power_driver({"driver": "qmp", "socket": str(qmp.path)}), QMPPowerDriver)
    finally:
        qmp.close()
    ipmi = power_driver({"driver": "ipmi", "host": "127.0.0.1", "user": "u", "password": "p", "port": 6230})
    assert isinstance(ipmi, IPMIPowerDriver)
    with pytest.raises(ValueError, match="does not exist"):
        power_driver({"driver": "qmp", "socket": str(tmp_path / "gone.qmp")})


def test_only_a_virtual_machine_can_be_paused(tmp_path: Path) -> None:
    qmp = FakeQMP(tmp_path / "b.qmp")
    try:
        assert isinstance(QMPPowerDriver(str(qmp.path)), PausableProtocol)
    finally:
        qmp.close()
    ipmi = power_driver({"driver": "ipmi", "host": "127.0.0.1", "user": "u", "password": "p"})
    assert not isinstance(ipmi, PausableProtocol) and not hasattr(ipmi, "pause")


def test_every_console_checks_and_builds_from_the_registry(tmp_path: Path) -> None:
    assert CONSOLES == tuple(CONSOLE) == ("file", "ipmi-sol")
    log = tmp_path / "console.log"
    log.write_bytes(b"[    1.0] hello\n")
    console = console_driver({"driver": "file", "path": str(log)})
    assert console is not None and console.since(0).startswith(b"[    1.0] hello")
    assert console_problems({"driver": "file", "path": "rel.log"}, None) == [
        "swaplab_console driver file needs an absolute path, not 'rel.log'"]  # fmt: skip
    assert "needs swaplab_power driver ipmi" in console_problems({"driver": "ipmi-sol"}, {"driver": "qmp"})[0]
    assert "is unknown: use one of file, ipmi-sol" in console_problems({"driver": "telnet"}, None)[0]
    with pytest.raises(ValueError, match="is unknown"):
        console_driver({"driver": "telnet", "path": str(log)})
