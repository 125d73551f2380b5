"""The virtual lab's NAS as a container on the host (``lab up --nas host``, the default).

The NAS image, the same disk the VM NAS boots, runs under ``systemd-nspawn``: its own systemd,
sshd, nbd-server, dnsmasq, HTTP boot server and NFS server, in mount, PID, UTS and network namespaces
of its own, on the host's kernel. The blades' swap and root I/O then reach the NAS's disk without an
emulated CPU, NIC and kernel in between (``bench/README.md`` (2026-11-30, commit 9b7f184) has the figures), and the
NAS no longer competes with the blades for the host's cores at emulation's cost.

It is still a NAS that Ansible provisions: the playbooks reach its sshd, and the roles write its
exports, swapfiles, NBD files, TFTP tree and boot script exactly as on the VM or a rack's NAS.

- **Disk**: ``nas.img`` mounted read-only (loop) under an overlay whose upper directory is in the run
  directory, as the VM NAS's qcow2 overlay: the image is never written, ``lab down`` drops the changes.
- **Lab network**: a tap joined to the vde switch (``vde_plug2tap``), moved into the container (``ip link set
  netns``), where
  systemd-networkd gives it the NAS's lab address: the blades see the NAS exactly as they see the VM.
- **Management**: a veth pair (``--network-veth``) inside the lab's network namespace: ``MGMT_HOST`` on
  the lab's side, ``MGMT_NAS`` in the container, where its sshd listens. Only a namespace the lab made
  (``make run``, the integration tests: ``unshare --net``) is ever given a link: refused beside any other.
- **NFS**: the host's kernel has no nfsd (and a container could not load one), so this NAS serves NFS
  with nfs-ganesha, the ``nfs_server`` role's ganesha implementation; its kernel nfsd unit is masked.
- **The served trees** (``EXPORTED``: the roots, the swap directories, the NBD files) are plain
  directories of the host's disk bound into the container, not the overlay: Ganesha's VFS backend
  serves files by their kernel file handles, which an overlay does not give.
- **Processes**: ``systemd-nspawn`` (``nas.pid``) and the tap's plug (``nas-tap.pid``), stopped by PID.
  Freezing the NAS (a fault, ``lab power nas pause``) stops every process in the container by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from swaplab import errors, proctree
from swaplab.lab import taps

MACHINE = "swlnas"
TAP = "swl-nas"
VETH = f"ve-{MACHINE}"  # the host side of nspawn's veth pair
MGMT_HOST = "172.31.255.1"
MGMT_NAS = "172.31.255.2"
# The roles' default directories for what the blades use (nfs_server, nbd_server).
EXPORTED = ("/srv/nfsroot", "/srv/swap", "/srv/nbd")
PIDFILE = "nas.pid"
TAP_PIDFILE = "nas-tap.pid"
# Units the container cannot run: kernel nfsd (no nfsd module on the host), and mounts of it.
MASKED = ("nfs-server.service", "nfs-kernel-server.service", "proc-fs-nfsd.mount", "nfsdcld.service",
          "run-rpc_pipefs.mount", "nfs-idmapd.service", "rpc-svcgssd.service")  # fmt: skip


class HostNASError(errors.Infrastructure):
    pass


def problems() -> list[str]:
    """What stops a host NAS from starting here, each with its fix (empty: nothing)."""
    out = []
    if shutil.which("systemd-nspawn") is None:
        out.append("--nas host needs systemd-nspawn: run `make lab-deps` (it installs systemd-container)")
    others = taps.foreign((TAP, VETH, "swl-dhcp"))  # swl-dhcp: lab up --dhcp lab
    if others:
        out.append(f"--nas host makes a tap and a veth: run it in a network namespace of the lab's own "
                   f"(`make run` and `make integration` do; or `unshare --net`), not beside {', '.join(others)}; "
                   "or use --nas vm")  # fmt: skip
    if not Path("/dev/loop-control").exists():
        out.append("--nas host mounts the NAS image on a loop device, and this machine has no /dev/loop-control: "
                   "use --nas vm")  # fmt: skip
    return out


def _dirs(run: Path) -> tuple[Path, Path, Path, Path]:
    base = run.resolve()
    return base / "nas-lower", base / "nas-upper", base / "nas-work", base / "nas-root"


def _bound(run: Path, inside: str) -> Path:
    """The host directory bound at ``inside`` in the container."""
    return run.resolve() / "nas-srv" / inside.strip("/").replace("/", "-")


def _upper_files(upper: Path, lab_address: str) -> None:
    """The container's own configuration, over the image's: its NICs' names and addresses, masked units."""
    net = upper / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    (net / "10-lab.network").write_text(
        "# lab network: the tap on the vde switch (see swaplab/lab/hostnas.py)\n"
        f"[Match]\nName={TAP}\n\n[Network]\nAddress={lab_address}/24\nAddress=fd00:10::1/64\n"
        "IPv6AcceptRA=no\nLinkLocalAddressing=ipv6\n"
    )
    (net / "20-mgmt.network").write_text(
        f"# management: nspawn's veth, inside the lab's network namespace only\n"
        f"[Match]\nName=host0\n\n[Network]\nAddress={MGMT_NAS}/30\nLinkLocalAddressing=no\n"
    )
    units = upper / "etc/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in MASKED:
        link = units / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


def start(run: Path, image: Path, vde_ctl: Path, lab_address: str, console_log: Path) -> None:
    """Mount the NAS image, plug the tap, boot the container; return once nspawn runs and its veth is set up
    (its sshd comes later: wait for it on ``MGMT_NAS``:22)."""
    found = problems()
    if found:
        raise HostNASError("; ".join(found))
    lower, upper, work, root = _dirs(run)
    for d in (lower, work, root):
        d.mkdir(mode=0o700, exist_ok=True)
    # The upper directory's own mode is the container's / : 0755, or its unprivileged services (networkd
    # runs as systemd-network) cannot even chdir. The run directory around it stays 0700.
    upper.mkdir(mode=0o755, exist_ok=True)
    upper.chmod(0o755)
    (run / "nas-srv").mkdir(mode=0o700, exist_ok=True)
    for inside in EXPORTED:
        _bound(run, inside).mkdir(mode=0o755, exist_ok=True)
    _upper_files(upper, lab_address)
    _mount(["-o", "ro,loop,noload", str(image), str(lower)])
    _mount(["-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={upper},workdir={work}", str(root)])
    try:
        taps.plug(vde_ctl, run / TAP_PIDFILE, TAP)
    except taps.TapError as e:
        raise HostNASError(str(e)) from e
    argv = [
        "systemd-nspawn", "--boot", "--register=no", "--keep-unit", f"--machine={MACHINE}", f"--directory={root}",
        "--console=pipe", "--network-veth", "--link-journal=no",
        "--resolv-conf=off", "--timezone=off",
        # Ganesha's VFS backend opens files by handle; nspawn's default filter refuses that syscall (EPERM).
        "--capability=CAP_DAC_READ_SEARCH", "--system-call-filter=open_by_handle_at name_to_handle_at",
        *(f"--bind={_bound(run, inside)}:{inside}" for inside in EXPORTED),
    ]  # fmt: skip
    with console_log.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    (run / PIDFILE).write_text(f"{proc.pid}\n")
    try:
        taps.wait_link(VETH, 30)
        inner = _container_netns_pid(proc.pid, 10)
    except (taps.TapError, HostNASError):
        raise HostNASError(f"systemd-nspawn did not start the NAS (see {console_log})") from None
    # The tap is moved in here, not with nspawn's --network-interface: that asks udev about the link,
    # and a host without a running udev answers "No data available".
    for cmd in (["ip", "link", "set", TAP, "netns", str(inner)], ["ip", "addr", "add", f"{MGMT_HOST}/30", "dev", VETH],
                ["ip", "link", "set", VETH, "up"]):  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise HostNASError(f"{' '.join(cmd)}: {r.stderr.strip()[-300:]}")


def _container_netns_pid(nspawn: int, timeout: float) -> int:
    """A process inside the container's network namespace (one of nspawn's, in a namespace not ours)."""
    ours = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid, _ in proctree.descendants(nspawn):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/ns/net") != ours:
                    return pid
        time.sleep(0.1)
    raise HostNASError("the container's network namespace did not appear")


def _mount(args: list[str]) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise HostNASError(f"mount {' '.join(args)}: {r.stderr.strip()[-300:]}")


def mounted(run: Path) -> list[Path]:
    """The host NAS's mounts that are still there (overlay first)."""
    lower, _, _, root = _dirs(run)
    with open("/proc/self/mounts") as f:
        points = {line.split()[1] for line in f}
    return [p for p in (root, lower) if str(p) in points]


def unmount(run: Path) -> None:
    """Unmount the overlay and the image (lazily if something still holds them); the loop device goes with it."""
    for point in mounted(run):
        if subprocess.run(["umount", str(point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


def container_processes(run: Path) -> list[proctree.Proc]:
    """Every process inside the container (the descendants of systemd-nspawn), by PID and start time."""
    try:
        pid = int((run / PIDFILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return proctree.descendants(pid)


def freeze(run: Path, frozen: bool, settle_s: float = 5.0) -> int:
    """Stop (or continue) every process in the container, as a NAS that stalls; how many were signalled.

    A stop takes effect asynchronously (a task in uninterruptible sleep stops when it leaves it): wait up
    to ``settle_s`` for every process to show it, so that what ``frozen`` says next is the new state."""
    sig = signal.SIGSTOP if frozen else signal.SIGCONT
    n = 0
    for pid, start_time in container_processes(run):
        if proctree.start_time(pid) == start_time:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                n += 1
    deadline = time.monotonic() + settle_s
    while n and is_frozen(run) != frozen and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


def _states(run: Path) -> list[str]:
    out = []
    for pid, _ in container_processes(run):
        with contextlib.suppress(OSError, IndexError):
            out.append(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
    return [s for s in out if s not in ("Z", "X")]  # the dead do not count


def is_frozen(run: Path) -> bool:
    """Is every live process in the container stopped (``freeze``)?"""
    states = _states(run)
    return bool(states) and all(s in ("T", "t") for s in states)
