"""Swap configuration: the blade is reachable, runs the kernel under test, and swaps where it should."""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplab.fleet.session import BladeSession, Settings
from swaplab.kernel.check import check_path, render_text


def test_reachable(blade: BladeSession, settings: Settings, record_property: pytest.RecordProperty) -> None:
    """First contact: the blade answers ssh; the counters the health suite compares against are taken."""
    baseline = blade.baseline()
    record_property("swaplab", {"baseline": baseline})
    want = settings.kernel.get("release")
    assert not want or baseline["release"] == want, f"{blade.name} runs {baseline['release']}, not {want}"


def test_nfs_swap_active(blade: BladeSession, record_property: pytest.RecordProperty) -> None:
    nfs = [a for a in blade.swap_areas() if a.kind == "nfs"]
    assert nfs, f"no swapfile on NFS is active on {blade.name}: {blade.swap_areas()}"
    path = nfs[0].path
    opts = blade.sh(f"findmnt -n -o OPTIONS --target {blade.q(path)}").strip()
    mode = blade.sh(f"stat -c '%U %a' {blade.q(path)}").split()
    record_property("swaplab", {"nfs_swapfile": path, "nfs_mount_options": opts})
    options = set(opts.split(","))
    assert "hard" in options, f"the NFS swap mount is not hard ({opts}): a timeout could lose a page"
    assert "proto=tcp" in options, f"the NFS swap mount is not over TCP ({opts})"
    assert mode == ["root", "600"], f"{path} is {' '.join(mode)}, not root-owned 0600"


def test_nbd_swap_active(blade: BladeSession, record_property: pytest.RecordProperty) -> None:
    nbd = [a for a in blade.swap_areas() if a.kind == "nbd"]
    assert nbd, f"no NBD device is active as swap on {blade.name}: {blade.swap_areas()}"
    dev = Path(nbd[0].path).name
    pid = blade.sh(f"cat /sys/block/{dev}/pid 2>/dev/null || true").strip()
    record_property("swaplab", {"nbd_device": nbd[0].path, "nbd_client_pid": pid})
    assert pid.isdigit(), f"{nbd[0].path} has no connected nbd-client"


def test_kernel_config_fit(blade: BladeSession, record_property: pytest.RecordProperty) -> None:
    """The running kernel's own config passes `swaplab check-kernel`."""
    text = blade.sh("cat /boot/config-$(uname -r) 2>/dev/null || zcat /proc/config.gz 2>/dev/null || true")
    assert text.strip(), "neither /boot/config-$(uname -r) nor /proc/config.gz: cannot check the running kernel"
    path = blade.dir / "kernel.config"
    path.write_text(text)
    verdict = check_path(str(path))
    record_property("swaplab", {"check_kernel": verdict.to_dict()})
    assert verdict.fit, render_text(verdict)


def test_sysctls_for_testing(blade: BladeSession, record_property: pytest.RecordProperty) -> None:
    values = blade.sh(
        "cat /proc/sys/kernel/hung_task_timeout_secs /proc/sys/kernel/hung_task_warnings /proc/sys/vm/swappiness"
    ).split()
    timeout, warnings, swappiness = (int(v) for v in values)
    record_property("swaplab", {"hung_task_timeout_secs": timeout, "hung_task_warnings": warnings,
                                "swappiness": swappiness})  # fmt: skip
    assert 0 < timeout <= 120, f"kernel.hung_task_timeout_secs={timeout}: a hang would not be reported within a run"
    assert warnings == -1, f"kernel.hung_task_warnings={warnings}: hang reports would stop after {warnings}"


def test_zswap_off(blade: BladeSession) -> None:
    """zswap would keep pages in RAM and hide the swap device's behaviour."""
    state = blade.sh("cat /sys/module/zswap/parameters/enabled 2>/dev/null || echo absent").strip()
    assert state in ("N", "absent"), f"zswap is enabled ({state}): boot with zswap.enabled=0"
