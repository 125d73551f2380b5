"""Swap configuration: the blade is reachable, runs the kernel under test, and swaps where it should.

The checks of state go through testinfra (``BladeSession.host()``: its ssh backend over the
run's ssh master, every command time-limited on both ends).
"""

from __future__ import annotations

from pathlib import Path

from swaplab import machine
from swaplab.fleet.recording import Recorder
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import InfraError, Settings
from swaplab.kernel.check import check_path, render_text
from swaplab.records import Facts


def test_reachable(blade: BladeSession, settings: Settings, record: Recorder) -> None:
    """First contact: the blade answers ssh; the counters the health suite compares against are taken."""
    baseline = blade.baseline()
    if contact := blade.contact_to_journal():
        record.add(Facts(contact))  # the release and the counters at first contact (a resumed run's baseline)
    want = settings.kernel.release if settings.kernel else None
    assert not want or baseline["release"] == want, f"{blade.name} runs {baseline['release']}, not {want}"
    # What the blade could do (swaplab.machine): compare tells runs on unlike machines apart by it. A blade
    # without python3 has no figure; that is no reason to fail its first contact.
    try:
        calibration = machine.parse_blade(blade.sh(machine.BLADE_COMMAND, timeout=120))
    except InfraError:
        calibration = None
    if calibration is not None:
        record.add(
            Facts({"calibration_hash_mib_s": calibration["hash_mib_s"], "calibration_cpus": calibration["cpus"]})
        )


def test_nfs_swap_active(blade: BladeSession, record: Recorder) -> None:
    nfs = [a for a in blade.swap_areas() if a.kind == "nfs"]
    assert nfs, f"no swapfile on NFS is active on {blade.name}: {blade.swap_areas()}"
    host = blade.host()
    path = nfs[0].path
    target = host.check_output("findmnt -n -o TARGET --target %s", path).strip()
    mount = host.mount_point(target)
    swapfile = host.file(path)
    record.add(Facts({"nfs_swapfile": path, "nfs_mount_options": ",".join(mount.options)}))
    assert mount.filesystem in ("nfs", "nfs4"), f"{path} is on {mount.filesystem}, not NFS"
    assert "hard" in mount.options, f"the NFS swap mount is not hard ({mount.options}): a timeout could lose a page"
    assert "proto=tcp" in mount.options, f"the NFS swap mount is not over TCP ({mount.options})"
    assert (swapfile.user, swapfile.group, swapfile.mode) == ("root", "root", 0o600), (
        f"{path} is {swapfile.user}:{swapfile.group} {swapfile.mode:o}, not root:root 0600"
    )


def test_nbd_swap_active(blade: BladeSession, record: Recorder) -> None:
    nbd = [a for a in blade.swap_areas() if a.kind == "nbd"]
    assert nbd, f"no NBD device is active as swap on {blade.name}: {blade.swap_areas()}"
    host = blade.host()
    pidfile = host.file(f"/sys/block/{Path(nbd[0].path).name}/pid")
    pid = pidfile.content_string.strip() if pidfile.exists else ""
    record.add(Facts({"nbd_device": nbd[0].path, "nbd_client_pid": pid}))
    assert pid.isdigit(), f"{nbd[0].path} has no connected nbd-client"
    assert host.process.filter(pid=int(pid)), f"nbd-client {pid} of {nbd[0].path} is not running"


def test_kernel_config_fit(blade: BladeSession, record: Recorder) -> None:
    """The running kernel's own config passes `swaplab check-kernel`."""
    text = blade.sh("cat /boot/config-$(uname -r) 2>/dev/null || zcat /proc/config.gz 2>/dev/null || true")
    assert text.strip(), "neither /boot/config-$(uname -r) nor /proc/config.gz: cannot check the running kernel"
    path = blade.dir / "kernel.config"
    path.write_text(text)
    verdict = check_path(str(path))
    record.add(Facts({"kernel_config_fit": verdict.fit}))
    record.attach(str(path))
    assert verdict.fit, render_text(verdict)


def test_sysctls_for_testing(blade: BladeSession, record: Recorder) -> None:
    host = blade.host()
    timeout = host.sysctl("kernel.hung_task_timeout_secs")
    warnings = host.sysctl("kernel.hung_task_warnings")
    swappiness = host.sysctl("vm.swappiness")
    reserve = host.sysctl("vm.min_free_kbytes")
    record.add(Facts({"hung_task_timeout_secs": timeout, "hung_task_warnings": warnings, "swappiness": swappiness,
                      "min_free_kbytes": reserve}))  # fmt: skip
    assert 0 < timeout <= 120, f"kernel.hung_task_timeout_secs={timeout}: a hang would not be reported within a run"
    assert warnings == -1, f"kernel.hung_task_warnings={warnings}: hang reports would stop after {warnings}"


def test_zswap_off(blade: BladeSession) -> None:
    """zswap would keep pages in RAM and hide the swap device's behaviour."""
    enabled = blade.host().file("/sys/module/zswap/parameters/enabled")
    state = enabled.content_string.strip() if enabled.exists else "absent"
    assert state in ("N", "absent"), f"zswap is enabled ({state}): boot with zswap.enabled=0"
