"""The IPMI power driver: ipmitool against OpenIPMI's real ipmi_sim, whose chassis drives a (fake) QMP socket.

Only the QEMU end is a fake (tests/unit/fakes.py speaks QMP); the BMC, its RMCP+ session and
password check, and the client are the real programs a rack's path uses.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from swaplab.drivers import power_driver
from swaplab.drivers.ipmidriver import IPMIError, IPMIPowerDriver
from swaplab.drivers.protocols import PowerState
from swaplab.lab import bmc as vbmc
from tests.unit.fakes import FakeQMP

PASSWORD = "pw-" + "x7Yq2"

if not (shutil.which("ipmi_sim") and shutil.which("ipmitool")):
    if os.environ.get("CI"):
        pytest.fail("ipmi_sim and ipmitool are not installed in CI: `make lab-deps` installs them")
    pytest.skip("needs ipmi_sim and ipmitool (make lab-deps)", allow_module_level=True)


@pytest.fixture
def bmc(tmp_path: Path) -> Iterator[tuple[FakeQMP, vbmc.VirtualBMC]]:
    qmp = FakeQMP(tmp_path / "blade1.qmp")
    (tmp_path / "blade1.qmp.off").touch()  # a rack's blade starts off
    b = vbmc.start_ipmi(tmp_path, "blade1", str(qmp.path), vbmc.free_tcp_port(), PASSWORD)
    yield qmp, b
    os.kill(int(Path(b.pidfile).read_text()), signal.SIGTERM)
    qmp.close()


def _driver(b: vbmc.VirtualBMC, password: str = PASSWORD) -> IPMIPowerDriver:
    return IPMIPowerDriver("127.0.0.1", vbmc.BMC_USER, password, port=b.port, cipher_suite=3, timeout_s=1, retries=1)


def test_power_through_the_bmc_with_a_one_time_pxe_override(bmc: tuple[FakeQMP, vbmc.VirtualBMC]) -> None:
    qmp, b = bmc
    drv = _driver(b)
    assert drv.status() is PowerState.OFF
    drv.cycle()  # off: the override, then on
    assert drv.status() is PowerState.ON and qmp.running
    chassis = (Path(b.state_dir) / "chassis.log").read_text().splitlines()
    ops = [" ".join(line.split()[1:]) for line in chassis]
    assert ops.index("set boot pxe") < ops.index("set power 1")  # override before power-on
    assert not (Path(b.state_dir) / "boot-once").exists()  # consumed by that power-on
    calls = len(qmp.calls)
    drv.cycle()  # on: a power cycle, the override set first
    assert drv.status() is PowerState.ON
    assert "system_reset" in qmp.calls[calls:] and qmp.calls[-1] in ("cont", "query-status")
    drv.off()
    assert drv.status() is PowerState.OFF and not qmp.running


def test_a_wrong_password_is_an_error_naming_the_likely_cause(bmc: tuple[FakeQMP, vbmc.VirtualBMC]) -> None:
    _, b = bmc
    with pytest.raises(IPMIError, match="the BMC answers but refused the session: wrong user or password"):
        _driver(b, "not-the-password").status()


def test_a_bmc_that_does_not_answer_is_an_error_within_its_limit() -> None:
    drv = IPMIPowerDriver("127.0.0.1", "admin", PASSWORD, port=vbmc.free_udp_port(), cipher_suite=3, timeout_s=1,
                          retries=1)  # fmt: skip
    with pytest.raises(IPMIError, match="the BMC does not answer: check host and port"):
        drv.status()


def test_an_error_printed_with_exit_0_is_a_failure() -> None:
    """ipmitool can print an error and exit 0 (a refused bootdev on ipmi_sim's other wiring, say)."""

    def run(argv: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, "", "Error setting Chassis Boot Parameter 5: Invalid data field\n")

    drv = IPMIPowerDriver("bmc.lab", "admin", PASSWORD, run=run)
    with pytest.raises(IPMIError, match="Invalid data field"):
        drv.boot_once_pxe()


def test_the_password_is_never_on_the_command_line() -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []

    def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        seen.append((argv, kw["env"]))  # type: ignore[arg-type]
        return subprocess.CompletedProcess(argv, 0, "Chassis Power is on\n", "")

    assert IPMIPowerDriver("bmc.lab", "admin", PASSWORD, run=run).status() is PowerState.ON
    argv, env = seen[0]
    assert PASSWORD not in " ".join(argv) and "-E" in argv and env["IPMI_PASSWORD"] == PASSWORD
    assert argv[argv.index("-C") + 1] == "17"  # what real BMCs increasingly require, unless told otherwise


def test_the_registry_builds_it() -> None:
    drv = power_driver({"driver": "ipmi", "host": "10.1.2.3", "user": "u", "password": "p", "cipher_suite": 3})
    assert isinstance(drv, IPMIPowerDriver) and drv.cipher_suite == 3 and drv.port == 623
