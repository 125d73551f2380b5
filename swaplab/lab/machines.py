"""`swaplab lab up / down / status`: the virtual rack's switch, NAS and blades.

Everything runs from one run directory (pidfiles, QMP and console sockets,
console logs, the NAS's copy-on-write disk, the lab's known_hosts). `down`
stops exactly the processes `up` started, by the PIDs in their pidfiles, and
is idempotent. The host reaches the lab only through 127.0.0.1: the NAS's
management NIC is QEMU user networking with ``restrict=on`` and one port
forwarded to 127.0.0.1; the blades sit on a userspace vde switch behind it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from swaplab import proctree
from swaplab.drivers.qmpdriver import QMPPowerDriver
from swaplab.lab import bmc as vbmc
from swaplab.lab import hostnas, labdhcp
from swaplab.lab.images import LAB_NET
from swaplab.lab.labinventory import write_inventory
from swaplab.lab.paths import LabPaths
from swaplab.lab.procs import NAS_STOP_S, LabError, free_port, pid_of, stop, wait_ssh_banner
from swaplab.lab.state import Blade, LabState
from swaplab.labshape import LabShape
from swaplab.options import MAX_BLADE_MEMORY_MIB, MAX_BLADES, MIN_BLADE_MEMORY_MIB
from swaplab.repo import VIRTUAL_INVENTORY
from swaplab.rundir import HOST_LABEL_RE

Log = Callable[[str], None]
NAS_MEMORY_MIB = 1536
# Two vCPUs for the NAS: while it provisions, the blades are off and the host's second core is
# free, so per-blade work (swapfiles, root unpacks) runs in parallel; under swap load the NAS
# serves several blades at once.
NAS_CPUS = 2
# Blades get two vCPUs: real blades are SMP, and with one emulated CPU the swap path's workers
# and the RCU grace-period thread starve each other under TCG (captured in
# tests/unit/logs/lab-6.1-blade-nfs-swap-stall.console.log).
BLADE_CPUS = 2
# Blade memory: the smallest size measured to boot and pass a default run (2x RAM, 3 trial pairs)
# is 160 MiB (MIN_BLADE_MEMORY_MIB), with the blade image's 6.7 MB initramfs. Its kernel alone
# reserves ~66 MiB; with a 21-29 MB initramfs (nbd-client's hooks had put every NIC driver in it)
# 160 MiB blades ran out of memory unpacking it and panicked ("System is deadlocked on memory",
# golden log lab-6.1-blade-160m-boot-oom-panic). The defaults and ranges live in swaplab.options.

TCG = "tcg,thread=multi"
DEFAULT_SHAPE = LabShape()


def blade_memory_problem(mib: int) -> str | None:
    """What is wrong with a virtual blade's memory size, if anything."""
    if MIN_BLADE_MEMORY_MIB <= mib <= MAX_BLADE_MEMORY_MIB:
        return None
    return (
        f"--blade-memory {mib}: choose {MIN_BLADE_MEMORY_MIB} to {MAX_BLADE_MEMORY_MIB} MiB "
        f"(the smallest measured to boot; a smaller blade can panic at boot while its initramfs unpacks)"
    )


def _qemu_common(name: str, run: Path, memory: int, cpus: int = 1, serial_tcp_port: int = 0) -> list[str]:
    # The serial port is a server socket with a log file beside it (the `file` console); behind an
    # IPMI BMC it is a telnet server on 127.0.0.1, which the BMC's Serial-over-LAN connects to: telnet,
    # because a SOL break reaches QEMU as a telnet BREAK, and only then the guest's UART as a break
    # (magic sysrq on a serial console); over raw TCP it would arrive as two bytes of data.
    where = (f"host=127.0.0.1,port={serial_tcp_port},telnet=on" if serial_tcp_port
             else f"path={run / (name + '-console.sock')}")  # fmt: skip
    return [
        "qemu-system-x86_64", "-name", name, "-accel", TCG, "-cpu", "max", "-smp", str(cpus), "-m", str(memory),
        "-nodefaults", "-vga", "none", "-display", "none", "-monitor", "none",
        "-chardev", f"socket,id=ser0,{where},server=on,wait=off,"
                    f"logfile={run / (name + '-console.log')},logappend=on",
        "-serial", "chardev:ser0",
        "-qmp", f"unix:{run / (name + '.qmp')},server=on,wait=off",
        "-pidfile", str(run / (name + ".pid")), "-daemonize",
    ]  # fmt: skip


def blade_name(i: int) -> str:
    return f"blade{i}"


# The lab's own machines' names (their pidfiles share the run directory with the blades').
RESERVED_NAMES = frozenset({"nas", "nas-tap", "switch", "dhcp", "dhcp-tap", "run"})  # "run": the reports' run


def names_problem(names: list[str], blades: int) -> str | None:
    """What is wrong with the virtual lab's blade names (``--names``), if anything: each is a lower-case
    DNS label (a host name in the inventory, a directory in a run, a file name in the lab), each once.
    ``blades`` is ``--blades`` as given: its default, 1, means it was left out."""
    bad = [n for n in names if not HOST_LABEL_RE.fullmatch(n) or n != n.lower() or n in RESERVED_NAMES
           or n.startswith("bmc-")]  # fmt: skip
    if bad:
        return (f"--names {','.join(bad)}: a blade's name is a lower-case DNS label (letters, digits, inner "
                f"hyphens, at most 63), not {', '.join(sorted(RESERVED_NAMES))} nor bmc-*: the lab's own "
                "machines have those")  # fmt: skip
    if len(set(names)) != len(names):
        return f"--names {','.join(names)}: a name is given twice"
    if not 1 <= len(names) <= MAX_BLADES:
        return f"--names: {len(names)} names; choose 1 to {MAX_BLADES} blades"
    if blades not in (1, len(names)):
        return f"--blades {blades} and --names ({len(names)} names) disagree: give one of them"
    return None


def running(paths: LabPaths) -> bool:
    """Is any process of a lab alive (by its pidfile)?"""
    return paths.run.exists() and any(pid_of(p) for p in paths.run.glob("*.pid"))


def up(
    paths: LabPaths, blades: int, blade_memory: int, log: Log, ssh_timeout: float = 300, blade_cpus: int = BLADE_CPUS,
    shape: LabShape = DEFAULT_SHAPE, names: list[str] | None = None,
) -> LabState:  # fmt: skip
    """Bring the lab up in ``shape`` (``swaplab.labshape``: its BMCs, DHCP and NAS; the virtual BMCs'
    password is taken from the environment, SWAPLAB_BMC_PASSWORD)."""
    if found := shape.problems():
        raise LabError("; ".join(found))
    bmc, dhcp, nas = shape.bmc, shape.dhcp, shape.nas
    if nas == "host" and (found := hostnas.problems()):
        raise LabError("; ".join(found))
    password = os.environ.get(vbmc.PASSWORD_ENV, "")
    if bmc != "qmp" and not password:
        raise LabError(f"--bmc {bmc}: set {vbmc.PASSWORD_ENV} to the password the virtual BMCs should take "
                       "(swaplab run makes one up)")  # fmt: skip
    if not paths.stamp.exists():
        raise LabError("no lab images: run `swaplab lab build` first")
    if not 1 <= blades <= MAX_BLADES:
        raise LabError(f"--blades {blades}: choose 1 to {MAX_BLADES} blades")
    names = names or [blade_name(i) for i in range(1, blades + 1)]
    if problem := names_problem(names, blades):
        raise LabError(problem)
    problem = blade_memory_problem(blade_memory)
    if problem:
        raise LabError(problem)
    run = paths.run
    if running(paths):
        raise LabError(f"a lab is already up in {run}: run `swaplab lab down` first")
    if run.exists():
        hostnas.unmount(run)  # a lab that was not brought down (a killed controller) may have left its NAS disk
        if hostnas.mounted(run):
            raise LabError(f"the host NAS's disk is still mounted under {run}: unmount it first")
        shutil.rmtree(run)
    paths.secure()
    port = free_port() if nas == "vm" else 22
    nas_host = "127.0.0.1" if nas == "vm" else hostnas.MGMT_NAS
    state = LabState(str(run), port, f"{LAB_NET}.1", str(paths.key), str(paths.known_hosts), shape=shape,
                     nas_host=nas_host)  # fmt: skip
    try:
        subprocess.run(
            ["vde_switch", "-s", str(run / "vde.ctl"), "-M", str(run / "vde.mgmt"), "-p", str(run / "switch.pid"),
             "-d"], check=True, capture_output=True)  # fmt: skip
        t0 = time.monotonic()
        if nas == "host":
            hostnas.start(run, paths.nas_image, run / "vde.ctl", f"{LAB_NET}.1", run / "nas-console.log")
        else:
            _start_nas_vm(paths, port)
        for i, name in enumerate(names, 1):
            b = Blade(name, f"52:54:00:00:00:{0x10 + i:02x}", f"{LAB_NET}.{10 + i}", blade_memory,
                      str(run / f"{name}.qmp"), str(run / f"{name}-console.log"),
                      str(run / f"{name}-console.sock"), str(run / f"{name}.pid"))  # fmt: skip
            if bmc == "ipmi":
                b.sol_port = vbmc.free_tcp_port()
            cmd = [
                *_qemu_common(name, run, blade_memory, blade_cpus, b.sol_port), "-S", "-boot", "n",
                "-netdev", f"vde,id=lab,sock={run / 'vde.ctl'}",
                "-device", f"virtio-net-pci,netdev=lab,mac={b.mac},addr=0x3",
            ]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)
            QMPPowerDriver(b.qmp).off()  # a rack's blades start powered off
            if bmc == "ipmi":
                b.bmc_port = vbmc.start_ipmi(run, name, b.qmp, b.sol_port, password).port
            state.blades.append(b)
        if dhcp == "lab":
            labdhcp.start(run, LAB_NET, [(b.name, b.mac, b.address) for b in state.blades])
        if bmc == "redfish":
            rf = vbmc.start_redfish(run, [{"name": b.name, "qmp": b.qmp, "mac": b.mac} for b in state.blades], password)
            state.redfish_url, state.redfish_ca = rf.url, rf.ca
        state.save(run / "lab.json")
        host_key = paths.nas_host_key_pub.read_text().split()[:2]
        where = f"[{nas_host}]:{port}" if port != 22 else nas_host
        paths.known_hosts.write_text(f"{where} {' '.join(host_key)}\n")
        kind = shape.nas_kind
        log(f"switch and {blades} blade(s) (powered off) started; NAS {kind} booting, ssh on {nas_host}:{port}")
        wait_ssh_banner(nas_host, port, ssh_timeout)
        log(f"NAS up: ssh answered {time.monotonic() - t0:.0f} s after its {kind} started")
        write_inventory(state, VIRTUAL_INVENTORY)
    except (subprocess.CalledProcessError, LabError, vbmc.BMCError, labdhcp.LabDHCPError, hostnas.HostNASError,
            OSError) as e:  # fmt: skip
        detail = e.stderr.decode(errors="replace").strip() if isinstance(e, subprocess.CalledProcessError) else ""
        down(paths, lambda _m: None)
        raise LabError(f"lab up failed: {e} {detail}".strip()) from e
    return state


def _start_nas_vm(paths: LabPaths, port: int) -> None:
    """The NAS as a QEMU VM (``--nas vm``): kernel nfsd, its disk a qcow2 overlay on the image."""
    run = paths.run
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(paths.nas_image),
                    str(run / "nas.qcow2")], check=True)  # fmt: skip
    nas = [
        *_qemu_common("nas", run, NAS_MEMORY_MIB, NAS_CPUS),
        "-kernel", str(paths.nas_kernel), "-initrd", str(paths.nas_initrd),
        "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=10",
        "-drive", f"file={run / 'nas.qcow2'},format=qcow2,if=virtio,cache=unsafe",
        "-netdev", f"vde,id=lab,sock={run / 'vde.ctl'}",
        "-device", "virtio-net-pci,netdev=lab,mac=52:54:00:00:00:01,addr=0x3",
        "-netdev", f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=mgmt,mac=52:54:00:00:01:01,addr=0x4",
    ]  # fmt: skip
    subprocess.run(nas, check=True, capture_output=True)


def down(paths: LabPaths, log: Log) -> int:
    """Stop every process of the lab by its pidfile; return how many were running."""
    run = paths.run
    if not run.exists():
        log("no lab is up")
        return 0
    stopped = 0
    # Blades have any name (--names): theirs are the pidfiles that are not the lab's own machines'.
    blades = sorted(p for p in run.glob("*.pid") if p.stem not in RESERVED_NAMES and not p.stem.startswith("bmc-"))
    for pidfile in [*sorted(run.glob("bmc-*.pid")), run / "dhcp.pid", run / "dhcp-tap.pid", *blades]:
        if stop(pidfile):
            stopped += 1
    # A host NAS: continued if it was frozen (a frozen container cannot shut down), then given time to
    # shut down; whatever of it is left is stopped by PID, then its disk is unmounted.
    hostnas.freeze(run, False)
    inside = hostnas.container_processes(run)
    if stop(run / hostnas.PIDFILE, timeout=NAS_STOP_S):
        stopped += 1
    proctree.stop([p for p in inside if proctree.alive(p)])
    for pidfile in (run / hostnas.TAP_PIDFILE, run / "switch.pid"):
        if stop(pidfile):
            stopped += 1
    hostnas.unmount(run)
    log(f"lab down: {stopped} process(es) stopped")
    return stopped


NAS_ACTIONS = ("pause", "resume", "status")


def status(paths: LabPaths) -> list[tuple[str, str, str]]:
    state_file = paths.run / "lab.json"
    if not state_file.exists():
        return []
    st = LabState.load(state_file)
    rows = [("switch", "on" if pid_of(paths.run / "switch.pid") else "off", "-")]
    nas_on = pid_of(paths.run / "nas.pid") is not None
    kind = st.shape.nas_kind
    rows.append(("nas", "on" if nas_on else "off", f"{st.nas_address} ({kind}, ssh {st.nas_host}:{st.nas_port})"))
    for b in st.blades:
        power = QMPPowerDriver(b.qmp).status().value if pid_of(Path(b.pidfile)) else "absent"
        rows.append((b.name, power, b.address))
    return rows


def power(paths: LabPaths, machine: str, action: str) -> str:
    """Power a virtual blade on, off, cycle it, or read its state (as a lab's PDU or BMC would).

    ``pause`` and ``resume`` are fault injection: the machine stops dead, memory and
    connections intact, as a NAS or blade that stalls does. The NAS takes only these
    two and ``status`` (powering it off would take the lab's exports and DHCP with it).
    """
    state_file = paths.run / "lab.json"
    if not state_file.exists():
        raise LabError("no lab is up: run `swaplab lab up` first")
    st = LabState.load(state_file)
    if machine == "nas":
        if action not in NAS_ACTIONS:
            raise LabError(f"the NAS takes only {', '.join(NAS_ACTIONS)} (`{action}` would take the whole lab down)")
        if not pid_of(paths.run / "nas.pid"):
            raise LabError("the NAS is not running: run `swaplab lab up`")
        if st.shape.nas == "host":
            if action != "status":
                hostnas.freeze(paths.run, action == "pause")
            return "paused" if hostnas.is_frozen(paths.run) else "on"
        qmp = str(paths.run / "nas.qmp")
    else:
        found = [b for b in st.blades if b.name == machine]
        if not found or not pid_of(Path(found[0].pidfile)):
            raise LabError(f"no running blade {machine!r}: the lab has nas, {', '.join(b.name for b in st.blades)}")
        qmp = found[0].qmp
    driver = QMPPowerDriver(qmp)
    if action != "status":
        getattr(driver, action)()
    return driver.status().value


def nas_freeze(paths: LabPaths, frozen: bool) -> None:
    """Stop (or continue) the lab's NAS dead, memory and connections intact: a fault."""
    power(paths, "nas", "pause" if frozen else "resume")


def nfs_service(paths: LabPaths) -> str:
    """The lab NAS's NFS server unit: nfs-ganesha in the host container, kernel nfsd in the VM."""
    st = LabState.load(paths.run / "lab.json")
    return "nfs-ganesha" if st.shape.nas == "host" else "nfs-server"


__all__ = ["Blade", "LabError", "LabState", "write_inventory"]
