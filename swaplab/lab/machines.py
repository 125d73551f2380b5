"""`swaplab lab up / down / status`: the virtual rack's switch, NAS and blades.

Everything runs from one run directory (pidfiles, QMP and console sockets,
console logs, the NAS's copy-on-write disk, the lab's known_hosts). `down`
stops exactly the processes `up` started, by the PIDs in their pidfiles, and
is idempotent. The host reaches the lab only through 127.0.0.1: the NAS's
management NIC is QEMU user networking with ``restrict=on`` and one port
forwarded to 127.0.0.1; the blades sit on a userspace vde switch behind it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from swaplab import errors, proctree
from swaplab.drivers.qmpdriver import QMPPowerDriver
from swaplab.lab import bmc as vbmc
from swaplab.lab import hostnas, labdhcp
from swaplab.lab.images import LAB_NET
from swaplab.lab.paths import LabPaths
from swaplab.labshape import LabShape
from swaplab.options import MAX_BLADE_MEMORY_MIB, MAX_BLADES, MIN_BLADE_MEMORY_MIB
from swaplab.repo import ROOT
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
# Under TCG on a busy host a vCPU can be descheduled for seconds while the guest's clock runs on:
# the kernel then reports RCU stalls and soft lockups that are the emulator's, not its own.
# Virtual blades get longer thresholds (RCU 60 s instead of 21 s, soft lockup 60 s instead of 20 s);
# a physical lab keeps the kernel's defaults, and a real stall still shows.
TCG_CMDLINE = "rcupdate.rcu_cpu_stall_timeout=60 watchdog_thresh=30"
# The kernel's defaults for a 139 MiB blade are a 1.3 MiB reserve and a 0.1% watermark gap.
# hung_task_timeout_secs goes back to the kernel's 120 (the suites' ceiling; the hang budget is 150)
# from the roles' 30: with the emulated NAS and blade on two host cores, a task on the blade waits 30 s
# on its NFS root with no NAS outage (CI on 071bb91: systemd-journal blocked 33 s in a hog over the VM
# NAS's nfsd). A physical lab keeps 30 s.
TCG_BLADE_SYSCTLS = {
    "vm.min_free_kbytes": 8192,
    "vm.watermark_scale_factor": 100,
    "kernel.hung_task_timeout_secs": 120,
}
TCG = "tcg,thread=multi"
DEFAULT_SHAPE = LabShape()


class LabError(errors.Infrastructure):
    pass


@dataclass
class Blade:
    name: str
    mac: str
    address: str
    memory_mib: int
    qmp: str
    console_log: str
    console_sock: str
    pidfile: str
    bmc_port: int = 0  # --bmc ipmi: the blade's ipmi_sim on 127.0.0.1 (UDP)
    sol_port: int = 0  # --bmc ipmi: the blade's serial port as a TCP server, for the BMC's SOL


@dataclass
class LabState:
    run: str
    nas_port: int
    nas_address: str
    key: str
    known_hosts: str
    blades: list[Blade] = field(default_factory=list)
    shape: LabShape = field(default_factory=LabShape)  # its BMCs, DHCP and NAS (swaplab.labshape)
    redfish_url: str = ""  # --bmc redfish: the lab's sushy-emulator, https with the lab's CA
    redfish_ca: str = ""
    nas_host: str = "127.0.0.1"  # where its sshd is reached: the VM's forwarded port, the container's veth

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> LabState:
        d = json.loads(path.read_text())
        d["blades"] = [Blade(**b) for b in d["blades"]]
        d["shape"] = LabShape.of(d.get("shape") or {k: d.pop(k) for k in ("bmc", "dhcp", "nas") if k in d})
        return cls(**d)


def _free_port(preferred: int = 12222) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise LabError("no free TCP port on 127.0.0.1")


def _alive(pid: int) -> bool:
    """Is ``pid`` a live process? A child of ours that exited is reaped here; a zombie counts as dead
    (the BMC processes are children of whoever brought the lab up: `swaplab run` itself, say)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return proctree.start_time(pid) is not None


def _pid(pidfile: Path) -> int | None:
    """The PID in ``pidfile`` if that process is alive."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


NAS_STOP_S = 30.0  # a container's systemd shuts down in a few seconds; QEMU at once


def _stop(pidfile: Path, timeout: float = 10.0) -> bool:
    """Stop the process in ``pidfile`` (TERM, then KILL) and wait until it is gone.

    The PID is read once: QEMU removes its own pidfile while it exits, so the
    file cannot tell whether the process is still there."""
    pid = _pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    # Dead: a zombie whose parent is gone is reaped by init in a moment; wait for that (bounded), so
    # that nothing of the lab is left in the process table when `down` returns.
    gone_by = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < gone_by:
        time.sleep(0.05)
    pidfile.unlink(missing_ok=True)
    return True


def _wait_ssh_banner(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=5) as s:
            s.settimeout(10)
            if s.recv(64).startswith(b"SSH-"):
                return
        time.sleep(1)
    raise LabError(f"the NAS did not answer ssh on {host}:{port} within {timeout:.0f} s")


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
    return paths.run.exists() and any(_pid(p) for p in paths.run.glob("*.pid"))


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
    port = _free_port() if nas == "vm" else 22
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
        _wait_ssh_banner(nas_host, port, ssh_timeout)
        log(f"NAS up: ssh answered {time.monotonic() - t0:.0f} s after its {kind} started")
        write_inventory(state, ROOT / "inventories" / "virtual" / "hosts.yml")
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
        if _stop(pidfile):
            stopped += 1
    # A host NAS: continued if it was frozen (a frozen container cannot shut down), then given time to
    # shut down; whatever of it is left is stopped by PID, then its disk is unmounted.
    hostnas.freeze(run, False)
    inside = hostnas.container_processes(run)
    if _stop(run / hostnas.PIDFILE, timeout=NAS_STOP_S):
        stopped += 1
    proctree.stop([p for p in inside if proctree.alive(p)])
    for pidfile in (run / hostnas.TAP_PIDFILE, run / "switch.pid"):
        if _stop(pidfile):
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
    rows = [("switch", "on" if _pid(paths.run / "switch.pid") else "off", "-")]
    nas_on = _pid(paths.run / "nas.pid") is not None
    kind = st.shape.nas_kind
    rows.append(("nas", "on" if nas_on else "off", f"{st.nas_address} ({kind}, ssh {st.nas_host}:{st.nas_port})"))
    for b in st.blades:
        power = QMPPowerDriver(b.qmp).status().value if _pid(Path(b.pidfile)) else "absent"
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
        if not _pid(paths.run / "nas.pid"):
            raise LabError("the NAS is not running: run `swaplab lab up`")
        if st.shape.nas == "host":
            if action != "status":
                hostnas.freeze(paths.run, action == "pause")
            return "paused" if hostnas.is_frozen(paths.run) else "on"
        qmp = str(paths.run / "nas.qmp")
    else:
        found = [b for b in st.blades if b.name == machine]
        if not found or not _pid(Path(found[0].pidfile)):
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


def write_inventory(state: LabState, path: Path) -> None:
    """The virtual lab's inventory: same groups and variables a physical lab's has."""
    ssh_base = (
        f"-o UserKnownHostsFile={state.known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
        "-o ConnectTimeout=20"
    )
    proxy = f"ssh -i {state.key} {ssh_base} -p {state.nas_port} -W %h:%p root@{state.nas_host}"
    lines = [
        "# Generated by `swaplab lab up`: the virtual lab. Do not edit; see inventories/lab.example/ for a real lab.",
        "all:",
        "  vars:",
        "    ansible_user: root",
        f"    ansible_ssh_private_key_file: {state.key}",
        f'    ansible_ssh_common_args: "{ssh_base}"',
        f"    swaplab_known_hosts: {state.known_hosts}",
        "    swaplab_lab: virtual",
        "    # Small TCG blades: a larger free-memory reserve (PF_MEMALLOC pool) and earlier kswapd, so that",
        "    # pageout over the network is not starved (measured: hog 2x RAM on NFS 268 s -> 198 s); hung tasks",
        "    # reported after the kernel's 120 s, not 30 s: an emulated blade waits 30 s on an emulated NAS.",
        f"    swaplab_blade_sysctls: {{{', '.join(f'{k}: {v}' for k, v in TCG_BLADE_SYSCTLS.items())}}}",
        "  children:",
        "    nas:",
        "      hosts:",
        "        nas:",
        f"          ansible_host: {state.nas_host}",
        f"          ansible_port: {state.nas_port}",
        f"          swaplab_lab_address: {state.nas_address}",
        "          swaplab_nas_managed: true",
        *(
            [
                "          # The host NAS (a container on the host's kernel, which has no nfsd): NFS by nfs-ganesha.",
                "          nfs_server__implementation: ganesha",
                f"          pxe_server__interface: {hostnas.TAP}",
            ]
            if state.shape.nas == "host"
            else []
        ),
        *(
            [
                "          # The lab has its own DHCP server (lab up --dhcp lab): swaplab's dnsmasq is proxy-DHCP.",
                "          pxe_server__mode: proxy",
                f"          pxe_server__network: {LAB_NET}.0",
            ]
            if state.shape.dhcp == "lab"
            else []
        ),
        "    blades:",
        "      vars:",
        f"        ansible_ssh_common_args: '{ssh_base} -o ProxyCommand=\"{proxy}\"'",
        f"        swaplab_kernel_cmdline_extra: {TCG_CMDLINE}",
        "      hosts:",
    ]
    for b in state.blades:
        lines += [
            f"        {b.name}:",
            f"          ansible_host: {b.address}",
            f'          swaplab_mac: "{b.mac}"',
            f"          swaplab_memory_mib: {b.memory_mib}",
            *_power_lines(state, b),
            # Behind an IPMI BMC the console is its Serial-over-LAN, as on a rack; otherwise QEMU's log.
            "          swaplab_console: {driver: ipmi-sol}"
            if state.shape.bmc == "ipmi"
            else f"          swaplab_console: {{driver: file, path: {b.console_log}}}",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _power_lines(state: LabState, b: Blade) -> list[str]:
    """A blade's power settings in the generated inventory: QMP, or its BMC exactly as a rack's would read."""
    if state.shape.bmc == "ipmi":
        return [
            "          swaplab_power:",
            "            driver: ipmi",
            "            host: 127.0.0.1",
            f"            port: {b.bmc_port}",
            f"            cipher_suite: {vbmc.IPMI_SIM_CIPHER_SUITE}",
            f"            user: {vbmc.BMC_USER}",
            f"            password: \"{{{{ lookup('ansible.builtin.env', '{vbmc.PASSWORD_ENV}') }}}}\"",
        ]
    if state.shape.bmc == "redfish":
        return [
            "          swaplab_power:",
            "            driver: redfish",
            f"            url: {state.redfish_url}",
            f"            verify: {state.redfish_ca}",
            f"            system: {b.name}",
            f"            user: {vbmc.BMC_USER}",
            f"            password: \"{{{{ lookup('ansible.builtin.env', '{vbmc.PASSWORD_ENV}') }}}}\"",
        ]
    return [f"          swaplab_power: {{driver: qmp, socket: {b.qmp}}}"]
