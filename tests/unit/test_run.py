"""`Run` without a lab: what it reports when the lab fails it, and when swaplab itself fails.

The blade's power is a fake QMP socket (tests/unit/fakes.py); Ansible, the playbooks, the inventory
checks and the report writers are the real ones. The NAS is a closed port on 127.0.0.1."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from swaplab.kernel import under_test
from swaplab.report import junit
from swaplab.run import Run, RunOptions
from tests.unit.fakes import FakeQMP

XSD = Path(junit.__file__).with_name("junit-10.xsd")
# An ed25519 public key to file the (unreachable) NAS under in known_hosts.
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr1Ezp6EiEqAp3cZb0kXNp8w0q0m8a0yB1Xp2gY3T6Z"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lab(tmp_path: Path) -> tuple[FakeQMP, Path]:
    qmp = FakeQMP(tmp_path / "blade1.qmp")
    (tmp_path / "blade1.qmp.off").touch()
    port = _closed_port()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {KEY}\n")
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n  vars:\n"
        f"    ansible_ssh_common_args: '-o UserKnownHostsFile={known}'\n"
        "  children:\n    nas:\n      hosts:\n"
        f"        nas: {{ansible_host: 127.0.0.1, ansible_port: {port}, swaplab_lab_address: 10.0.0.1}}\n"
        "    blades:\n      hosts:\n"
        "        blade1: {ansible_host: 10.0.0.11, swaplab_mac: '52:54:00:00:00:11',"
        f" swaplab_power: {{driver: qmp, socket: {qmp.path}}}}}\n"
    )
    return qmp, inv


def _cases(run_dir: Path) -> dict[str, ET.Element]:
    xml = (run_dir / "junit.xml").read_bytes()
    assert junit.validate(xml, XSD) is None
    root = ET.fromstring(xml)
    return {f"{s.get('name')}/{c.get('name')}": c for s in root.iter("testsuite") for c in s.iter("testcase")}


def _opts(inv: Path, tmp_path: Path) -> RunOptions:
    kernel = Path(__file__).parent / "data" / "config-6.1.0-56-amd64"
    return RunOptions(inventory=str(inv), reports=tmp_path / "reports", kernel=str(kernel))


def test_a_nas_that_fails_is_an_error_for_every_blade_and_no_blade_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qmp, inv = _lab(tmp_path)
    # A config file cannot boot a blade: the run's kernel check would refuse it; take it as a .deb's verdict.
    monkeypatch.setattr(
        under_test, "resolve", lambda _p, _log: under_test.KernelUnderTest(Path("/k.deb"), "deb", "6.1.0-t", "0" * 64)
    )
    rc, run_dir = Run(_opts(inv, tmp_path), lambda _m: None).execute()
    qmp.close()
    assert rc == 2
    error = _cases(run_dir)["blade1/provision"].find("error")
    assert error is not None and error.get("type") == "infrastructure"
    message = error.get("message") or ""
    assert message.startswith("the NAS failed, the blade was not touched: nas: ") and "UNREACHABLE" in message
    assert "cont" not in qmp.calls  # never powered on: the boot play's gate held


def test_an_exception_inside_run_is_exit_2_with_a_valid_junit_and_a_run_level_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qmp, inv = _lab(tmp_path)
    monkeypatch.setattr(
        under_test, "resolve", lambda _p, _log: under_test.KernelUnderTest(Path("/k.deb"), "deb", "6.1.0-t", "0" * 64)
    )

    def boom(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("injected")

    from swaplab.run import stages

    monkeypatch.setattr(stages.Provision, "run", boom)
    rc, run_dir = Run(_opts(inv, tmp_path), lambda _m: None).execute()
    qmp.close()
    assert rc == 2
    cases = _cases(run_dir)
    error = cases["run/infrastructure"].find("error")
    assert error is not None and "ZeroDivisionError: injected" in (error.get("message") or "")
    assert "Traceback" not in (error.text or "")  # the body is for people; swaplab's traceback is apart:
    assert "Traceback" in (cases["run/infrastructure"].findtext("system-err") or "")
    assert (run_dir / "results.json").is_file() and (run_dir / "report.html").is_file()
