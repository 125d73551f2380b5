"""The boot play against a blade that never comes back: power-cycled once more, then an error, bounded.

Real Ansible and the real role; the blade's power is a fake QMP socket (tests/unit/fakes.py) and its
ssh a closed port on 127.0.0.1, so it never answers."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from swaplab.provision import run_playbook
from tests.unit.fakes import FakeQMP


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_blade_that_never_boots_is_cycled_twice_then_an_error(tmp_path: Path) -> None:
    qmp = FakeQMP(tmp_path / "blade1.qmp")
    (tmp_path / "blade1.qmp.off").touch()
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n  children:\n    nas:\n      hosts:\n"
        "        nas: {ansible_host: 127.0.0.1, swaplab_lab_address: 10.0.0.1}\n"
        "    blades:\n      hosts:\n        blade1:\n"
        f"          ansible_host: 127.0.0.1\n          ansible_port: {_closed_port()}\n"
        f"          swaplab_power: {{driver: qmp, socket: {qmp.path}}}\n"
        "          blade_boot__timeout: 5\n          blade_boot__delay: 0\n"
    )
    t0 = time.monotonic()
    res = run_playbook("boot.yml", str(inv), {"swaplab_kernel": {"release": "6.1.0-test"}}, lambda _m: None)
    took = time.monotonic() - t0
    qmp.close()
    assert not res.ok and "blade1" in res.failed_hosts
    assert "Wait for ssh after the second power-cycle" in res.failed_hosts["blade1"], res.failures
    assert qmp.calls.count("cont") == 2  # powered on twice: the cycle, and the one more
    assert took < 120
