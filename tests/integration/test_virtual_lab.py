"""From images to a diskless blade swapping over NFS and NBD, on one blade, the way CI runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, ROOT, swaplab

# A cold provision under TCG takes minutes: every test may take up to 40 minutes, bounded.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
INVENTORY = ROOT / "inventories" / "virtual" / "hosts.yml"
RUN = ROOT / ".cache" / "lab" / "run"


def _blade(host: str, command: str) -> str:
    r = subprocess.run(
        [str(BIN / "ansible"), "-i", str(INVENTORY), host, "-m", "ansible.builtin.raw", "-a", command],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_DEPRECATION_WARNINGS="false"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    # Drop ansible's "HOST | CHANGED | rc=0 >>" header and its closing notice.
    lines = [ln for ln in r.stdout.splitlines() if " | CHANGED | " not in ln and not ln.startswith("Shared connection")]
    return "\n".join(lines)


def _lab_pids() -> list[int]:
    return [int(p.read_text()) for p in RUN.glob("*.pid") if p.read_text().strip().isdigit()]


@pytest.fixture(scope="module")
def lab() -> Iterator[None]:
    assert swaplab("lab", "build").returncode == 0
    up = swaplab("lab", "up", "--blades", "1", "--blade-memory", "256")
    assert up.returncode == 0
    try:
        yield
    finally:
        pids = _lab_pids()
        assert swaplab("lab", "down").returncode == 0
        alive = [p for p in pids if Path(f"/proc/{p}").exists()]
        assert alive == [], f"lab processes still alive after down: {alive}"


def test_provision_boots_blade_on_kernel_under_test_with_both_swaps(lab: None) -> None:
    first = swaplab("provision", timeout=1800)
    assert first.returncode == 0
    release = re.search(r"kernel under test: (\S+)", first.stdout)
    assert release
    assert _blade("blade1", "uname -r").strip() == release.group(1)
    swaps = _blade("blade1", "cat /proc/swaps")
    assert "/mnt/nfsswap/swapfile" in swaps and "/dev/nbd0" in swaps
    mounts = _blade("blade1", "grep ' /mnt/nfsswap ' /proc/mounts")
    assert "hard" in mounts and "proto=tcp" in mounts
    # Each blade has its own identity, recorded as a checked host key.
    assert "10.0.0.11" in (RUN / "known_hosts").read_text()

    second = swaplab("provision", timeout=1200)
    assert second.returncode == 0
    assert re.search(r"provision ok in \d+ s; changed=0\b", second.stdout), second.stdout

    status = swaplab("lab", "status")
    assert re.search(r"blade1\s+on\s+10\.0\.0\.11", status.stdout)


def test_unfit_kernel_stops_before_any_boot(lab: None, tmp_path: Path) -> None:
    cfg = (ROOT / "tests" / "unit" / "data" / "config-6.1.0-56-amd64").read_text()
    bad = tmp_path / "config-unfit"
    bad.write_text(cfg.replace("CONFIG_NFS_SWAP=y", "# CONFIG_NFS_SWAP is not set"))
    r = swaplab("provision", "--kernel", str(bad))
    assert r.returncode == 2
    assert "CONFIG_NFS_SWAP" in r.stderr


def test_malformed_inventory_exit_2_lists_all_problems(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(json.dumps({"all": {"children": {"blades": {"hosts": {"b1": {"swaplab_mac": "zz"}}}}}}))
    r = swaplab("provision", "-i", str(inv), "--kernel", "/nonexistent.deb")
    assert r.returncode == 2
    for needle in ("no `nas` group", "b1: swaplab_mac 'zz'", "b1: no ansible_host", "b1: no swaplab_power",
                   "kernel /nonexistent.deb"):  # fmt: skip
        assert needle in r.stderr
