"""Bring a simulated rack up and down (``python -m swaplab.sim up|down``); see ``swaplab.sim`` for what a blade is.

``up`` makes, under RACK_DIR (bound onto itself, private, so namespace files can live there):

- one ssh client key and one host key; ``known_hosts`` with every machine's address; an inventory
  (``hosts.yml``) exactly as a rack's reads: blades with rack names, IPMI power through their BMCs
  (cipher suite 3, the password from the environment), Serial-over-LAN consoles, an unmanaged NAS;
- per blade (``blades/NAME``): its files (swap areas, counters, ``/dev/kmsg`` FIFO, the agent directory),
  a persistent mount namespace (``mnt.ns``) that binds them over the kernel's, with shims for ``swapon``,
  ``swapoff``, ``mkswap``, ``dmesg``, ``stat -f``, ``uname -r`` and the hog; an sshd config; a BMC
  (``ipmi_sim``, ``bmc/NAME``);
- the rack daemon (``swaplab.sim.rackd``), then the BMCs. Every blade starts powered off.

Addresses, all on loopback of the network namespace the caller runs in (``unshare --net``): blade *i*
at 127.0.1.*i*, its BMC at 127.0.2.*i*:623, its serial line at 127.0.4.*i*:2323; the NAS at 127.0.3.1.
Processes are started in sessions of their own, their PIDs in pidfiles, and ``down`` stops exactly those
(then every process left in a blade's namespace), unmounts and removes the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from swaplab import errors, proctree
from swaplab.drivers.ipmidriver import rmcp_ping
from swaplab.inventory.writer import Host, RackInventory
from swaplab.lab import bmc as vbmc
from swaplab.repo import HOME
from swaplab.rundir import HOST_LABEL_RE, RESERVED_NAMES
from swaplab.textsafe import shown

from .blade_files import BLADE_MOUNT, MEMINFO, SHIMS, VMSTAT, sshd_config

MAX_BLADES = 250  # one /24 of loopback addresses per kind
SSHD = HOME / ".cache" / "sim" / "usr" / "sbin" / "sshd"  # extracted from Debian's openssh-server (make sim-deps)
PRIVSEP_UID = 60999
AGENT_DIR = "/var/lib/swaplab"
SOL_PORT = 2323
NAS_ADDRESS = "127.0.3.1"
MAX_SESSIONS = 4  # IPMI sessions a simulated BMC allows its user (many real BMCs: 4 to 8)

MARKER = ".swaplab-sim-rack"  # written first by `up`; `down` acts on no directory without it


class SimError(errors.Infrastructure):
    pass


def _marker_text(rack: Path) -> str:
    return f"swaplab.sim rack {os.path.realpath(rack)}\n"


def is_rack(rack: Path) -> bool:
    """Whether ``rack`` is a directory ``up`` made (its marker, a regular file naming this very directory)."""
    marker = rack / MARKER
    try:
        return (not rack.is_symlink() and rack.is_dir() and not marker.is_symlink() and marker.is_file()
                and marker.stat().st_size < 4096 and marker.read_text() == _marker_text(rack))  # fmt: skip
    except (OSError, UnicodeDecodeError):
        return False


def _bound_here(rack: Path, path: Path) -> bool:
    """Whether ``path`` is a mount point inside the rack reached through no link (``up`` binds each blade's
    namespace there): a link planted in its place, to another namespace or a mount of the host's, is not."""
    try:
        if os.path.realpath(path) != os.path.join(os.path.realpath(rack), path.relative_to(rack)):
            return False
        return not os.path.islink(path) and os.path.ismount(path)
    except (OSError, ValueError):
        return False


def _ours(rack: Path, proc: proctree.Proc) -> bool:
    """Whether ``proc`` is one ``_start`` started for this rack: alive, the same start time, in this process's
    PID namespace, and working in the rack's directory (a pidfile is never taken on its word)."""
    pid = proc[0]
    if pid <= 1 or not proctree.alive(proc):
        return False
    try:
        same_ns = os.stat(f"/proc/{pid}/ns/pid").st_ino == os.stat("/proc/self/ns/pid").st_ino
        return same_ns and os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(rack)
    except OSError:
        return False


@dataclass(frozen=True)
class SimBlade:
    name: str
    index: int

    @property
    def address(self) -> str:
        return f"127.0.1.{self.index}"

    @property
    def bmc(self) -> str:
        return f"127.0.2.{self.index}"

    @property
    def sol(self) -> str:
        return f"127.0.4.{self.index}"


def rack_names(count: int, prefix: str = "r1-b") -> list[str]:
    width = max(2, len(str(count)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]


def problems(names: list[str]) -> list[str]:
    out = []
    if os.geteuid() != 0:
        out.append("the simulated rack needs root (mount namespaces, sshd): run it as root")
    if not 1 <= len(names) <= MAX_BLADES:
        out.append(f"{len(names)} blades: a simulated rack has 1 to {MAX_BLADES}")
    bad = [n for n in names if not HOST_LABEL_RE.fullmatch(n) or n.lower() in RESERVED_NAMES]
    if bad:
        out.append(f"not host names (or reserved): {shown(', '.join(bad[:5]))}")
    if len(set(names)) != len(names):
        out.append("a blade name is given twice")
    for tool in ("ipmi_sim", "ipmitool", "nsenter", "unshare", "ssh-keygen", "mount"):
        if shutil.which(tool) is None:
            out.append(f"{tool} is not installed: run `make lab-deps`")
    if not SSHD.is_file():
        out.append(f"no sshd at {SSHD}: run `make sim-deps` (it unpacks Debian's openssh-server there, "
                   "without installing or starting it)")  # fmt: skip
    return out


def _run(*argv: str) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SimError(f"`{' '.join(argv)}` exited {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(mode)


def _namespace(d: Path, binds: list[tuple[str, str]], private: bool = False) -> None:
    """A persistent mount namespace at ``d/mnt.ns`` with these (source, target) bind mounts. ``private``:
    what a blade's playbooks and loads write outside them stays in the blade too: /etc is an overlay on the
    host's (fstab), /mnt a tmpfs of its own (its mount points); Ansible's temporary files go to its own home."""
    ns = d / "mnt.ns"
    ns.touch()
    script = "set -e\n"
    if private:
        for sub in ("etc-upper", "etc-work"):
            (d / sub).mkdir()
        script += (f"mount -t overlay swaplab-sim-etc -o lowerdir=/etc,upperdir='{d}/etc-upper',workdir='{d}/etc-work' "
                   "/etc\nmount -t tmpfs -o size=64m,mode=0755 swaplab-sim-mnt /mnt\n")  # fmt: skip
    script += "".join(f"mount --bind '{src}' '{dst}'\n" for src, dst in binds)
    _run("unshare", f"--mount={ns}", "--propagation", "private", "sh", "-c", script)


def up_problems(rack: Path, names: list[str]) -> list[str]:
    """What stops a rack of these blades coming up in ``rack`` (a new or empty directory), all at once."""
    found = problems(names)
    if rack.is_symlink() or (rack.exists() and not rack.is_dir()):
        found.append(f"{rack} is not a directory: name a new directory for the rack")
    elif rack.exists() and any(rack.iterdir()):
        found.append(f"{rack} is not empty: bring that rack down first (python -m swaplab.sim down {rack})")
    elif not rack.parent.is_dir():
        found.append(f"{rack.parent} is not a directory: name a rack directory in one that exists")
    return found


def up(rack: Path, names: list[str], release: str, boot_s: float = 3.0, trial_s: float = 20.0,
       blade_vars: dict[str, float | int] | None = None) -> Path:  # fmt: skip
    """Bring the rack up; the inventory's path (``blade_vars``: more variables of the blades group, numbers).
    Raises SimError (with the rack brought down) on failure."""
    if found := up_problems(rack, names):
        raise SimError("; ".join(found))
    rack.mkdir(mode=0o700, exist_ok=True)
    (rack / MARKER).write_text(_marker_text(rack))
    try:
        return _up(rack, names, release, boot_s, trial_s, blade_vars or {})
    except BaseException:
        down(rack)
        raise


def _up(rack: Path, names: list[str], release: str, boot_s: float, trial_s: float,
        blade_vars: dict[str, float | int]) -> Path:  # fmt: skip
    _run("mount", "--bind", str(rack), str(rack))
    _run("mount", "--make-private", str(rack))
    for mountpoint in (BLADE_MOUNT, AGENT_DIR, "/run/sshd"):
        Path(mountpoint).mkdir(parents=True, exist_ok=True)
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swaplab-sim", "-f", str(rack / "id_ed25519"))
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swaplab-sim-host", "-f",
         str(rack / "ssh_host_ed25519_key"))  # fmt: skip
    shutil.copy(rack / "id_ed25519.pub", rack / "authorized_keys")
    host_pub = " ".join((rack / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    blades = [SimBlade(n, i) for i, n in enumerate(names, start=1)]
    _write(rack / "known_hosts", "".join(f"{a} {host_pub}\n" for a in [NAS_ADDRESS, *(b.address for b in blades)]))
    passwd = Path("/etc/passwd").read_text()
    if not any(line.startswith("sshd:") for line in passwd.splitlines()):
        passwd += f"sshd:x:{PRIVSEP_UID}:65534::/run/sshd:/usr/sbin/nologin\n"
    _write(rack / "passwd", passwd)
    shims = rack / "shims"
    shims.mkdir()
    fakehog = Path(__file__).with_name("fakehog.py")
    for name, text in SHIMS.items():
        _write(shims / name, text.format(fakehog=fakehog) if name == "python3" else text.replace("{{", "{")
               .replace("}}", "}"), 0o755)  # fmt: skip
    privsep = rack / "privsep"
    privsep.mkdir(mode=0o755)
    common = [(str(rack / "passwd"), "/etc/passwd"), (str(privsep), "/run/sshd")]
    nas = rack / "nas"
    nas.mkdir()
    _write(nas / "sshd_config", sshd_config(rack, NAS_ADDRESS, nas / "sshd.pid"))
    _namespace(nas, common)
    specs = []
    for b in blades:
        d = rack / "blades" / b.name
        (d / "agent").mkdir(parents=True)
        (d / "home").mkdir(mode=0o700)  # root's home on the blade (not the host's .bashrc, .ansible)
        _write(d / "swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
        _write(d / "vmstat", VMSTAT)
        _write(d / "meminfo", MEMINFO)
        _write(d / "tainted", "0\n")
        _write(d / "drop_caches", "")
        _write(d / "dmesg", "")
        _write(d / "release", release + "\n")
        _write(d / "trial_s", f"{trial_s}\n")
        os.mkfifo(d / "kmsg.fifo", 0o600)
        _write(d / "sshd_config", sshd_config(rack, b.address, d / "sshd.pid"))
        binds = [
            (str(d), BLADE_MOUNT),
            (str(d / "agent"), AGENT_DIR),
            (str(d / "swaps"), "/proc/swaps"),
            (str(d / "vmstat"), "/proc/vmstat"),
            (str(d / "meminfo"), "/proc/meminfo"),
            (str(d / "tainted"), "/proc/sys/kernel/tainted"),
            (str(d / "drop_caches"), "/proc/sys/vm/drop_caches"),
            (str(d / "kmsg.fifo"), "/dev/kmsg"),
            (str(shims), "/usr/local/sbin"),
            (str(d / "home"), "/root"),
        ]
        _namespace(d, [*common, *binds], private=True)  # fmt: skip
        specs.append({"name": b.name, "dir": str(d), "address": b.address, "sol_host": b.sol, "sol_port": SOL_PORT})
    _write(rack / "rack.json", json.dumps({"release": release, "boot_s": boot_s, "sshd": str(SSHD),
                                           "nas": {"dir": str(nas)}, "blades": specs}, indent=1))  # fmt: skip
    _start(rack, "rackd", [sys.executable, "-m", "swaplab.sim.rackd", str(rack)])
    deadline = time.monotonic() + 30
    while not (rack / "rackd.ready").exists():
        if time.monotonic() > deadline or not proctree.alive(_proc(rack / "pids" / "rackd.pid")):
            raise SimError(f"the rack daemon did not start: see {rack / 'rackd.log'}")
        time.sleep(0.1)
    password = os.environ.get(vbmc.PASSWORD_ENV) or ""
    if not password:
        raise SimError(f"set {vbmc.PASSWORD_ENV}: the simulated BMCs' password (at most 20 bytes)")
    for b in blades:
        _start_bmc(rack, b, password)
    for b in blades:
        deadline = time.monotonic() + 15
        while not rmcp_ping(b.bmc, 623, 0.5):
            if time.monotonic() > deadline:
                raise SimError(f"the BMC of {b.name} ({b.bmc}:623) does not answer: see {rack / 'bmc' / b.name}")
    inventory = rack / "hosts.yml"
    _write(inventory, inventory_text(rack, blades, blade_vars))
    return inventory


def _start_bmc(rack: Path, b: SimBlade, password: str) -> None:
    state = rack / "bmc" / b.name
    state.mkdir(parents=True, mode=0o700)
    chassis = f"{sys.executable} -I -m swaplab.sim.chassis {rack / 'rackd.sock'} {b.name} {state}"
    conf = "\n".join([
        f'name "{b.name}-bmc"', "set_working_mc 0x20", "  startlan 1", f"    addr {b.bmc} 623", "    priv_limit admin",
        *(f"    allowed_auths_{who} md5" for who in ("callback", "user", "operator", "admin")),
        f"    guid {secrets.token_hex(16)}", "  endlan", f'  chassis_control "{chassis}"',
        f'  sol "telnet:{b.sol}:{SOL_PORT}" 115200 history=65536',
        # At most 4 sessions for the user, as many BMCs allow: a controller that leaks them runs out.
        f'  user 2 true "{vbmc.BMC_USER}" "{password}" admin {MAX_SESSIONS} md5', "",
    ])  # fmt: skip
    _write(state / "lan.conf", conf, 0o600)
    _write(state / "emu", vbmc.EMU)
    (state / "sim-state").mkdir()
    _start(rack, f"bmc-{b.name}", ["ipmi_sim", "-c", str(state / "lan.conf"), "-f", str(state / "emu"), "-s",
                                   str(state / "sim-state"), "-n"])  # fmt: skip


def _start(rack: Path, name: str, argv: list[str]) -> None:
    pids = rack / "pids"
    pids.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != vbmc.PASSWORD_ENV}
    with (rack / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, cwd=rack)  # fmt: skip
    # The PID and its start time: a PID alone could be another process's by the time `down` reads it.
    (pids / f"{name}.pid").write_text(f"{proc.pid} {proctree.start_time(proc.pid) or 0}\n")


def _proc(path: Path) -> proctree.Proc:
    try:
        pid, start = path.read_text().split()[:2]
        return int(pid), int(start)
    except (OSError, ValueError):
        return 0, 0


def inventory_text(rack: Path, blades: list[SimBlade], blade_vars: dict[str, float | int] | None = None) -> str:
    ssh = (f"-o UserKnownHostsFile={rack / 'known_hosts'} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
           "-o ConnectTimeout=20")  # fmt: skip
    password = f"{{{{ lookup('ansible.builtin.env', '{vbmc.PASSWORD_ENV}') }}}}"
    extra = {k: v for k, v in sorted((blade_vars or {}).items())
             if re.fullmatch(r"[a-z_]+", k) and isinstance(v, int | float)}  # fmt: skip
    return RackInventory(
        generated_by="`python -m swaplab.sim up`: a simulated rack (swaplab.sim)",
        notes=("A simulated blade answers ssh within seconds of power-on (rackd's boot delay), not ~90 s;",
               "its NFS swap mount is a tmpfs: a small swapfile."),
        all_vars={"ansible_user": "root", "ansible_ssh_private_key_file": str(rack / "id_ed25519"),
                  "ansible_ssh_common_args": ssh, "swaplab_known_hosts": str(rack / "known_hosts")},
        nas=Host("nas", {"ansible_host": NAS_ADDRESS, "swaplab_lab_address": NAS_ADDRESS,
                         "swaplab_nas_managed": False}),
        blade_vars={"blade_boot__delay": 1, "nfs_swap__size_mib": 1, **extra},
        blades=[Host(b.name, {"ansible_host": b.address,
                              "swaplab_mac": _mac(b.index),
                              "swaplab_power": {"driver": "ipmi", "host": b.bmc, "port": 623,
                                                "cipher_suite": vbmc.IPMI_SIM_CIPHER_SUITE, "user": vbmc.BMC_USER,
                                                "password": password},
                              "swaplab_console": {"driver": "ipmi-sol"}})
                for b in blades],
    ).text()  # fmt: skip


def _mac(index: int) -> str:
    return f"52:54:00:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"


def ask(rack: Path, request: str, timeout: float = 20.0) -> str:
    """One request to the rack daemon (``swaplab.sim.rackd``): its answer line."""
    from swaplab.sim.chassis import ask as _ask

    sock = rack / "rackd.sock"
    if not is_rack(rack) or not sock.is_socket():
        raise SimError(f"{rack} has no running simulated rack (no rack daemon's socket): bring one up first")
    try:
        return _ask(str(sock), request, timeout)
    except OSError as e:
        raise SimError(f"{rack}: the rack daemon does not answer ({e.strerror or e}): is the rack up?") from None


def down(rack: Path) -> list[str]:
    """Stop what ``up`` started (by pidfile: the BMCs, then the rack daemon, which powers every blade off),
    then anything still in a blade's namespace; unmount and remove ``rack``. What could not be done."""
    if not is_rack(rack):
        raise SimError(f"{rack} is not a simulated rack (no {MARKER} that `up` wrote): nothing was stopped or removed")
    left: list[str] = []
    pids = rack / "pids"
    files = sorted(pids.glob("*.pid"), key=lambda p: p.name == "rackd.pid") if pids.is_dir() else []
    for pidfile in files:
        proc = _proc(pidfile)
        if _ours(rack, proc):
            os.kill(proc[0], signal.SIGTERM)
            deadline = time.monotonic() + 15
            while proctree.alive(proc) and time.monotonic() < deadline:
                time.sleep(0.1)
            if proctree.alive(proc):
                os.kill(proc[0], signal.SIGKILL)
    from swaplab.sim.rackd import ns_pids

    nsfs = os.stat("/proc/self/ns/mnt")
    for ns in [*rack.glob("blades/*/mnt.ns"), rack / "nas" / "mnt.ns"]:
        if not _bound_here(rack, ns):
            continue  # a link (to another namespace, or to a mount of the host's) or a plain file: left alone
        with contextlib.suppress(OSError):
            st = os.stat(ns)
            # Only a namespace bound there (nsfs), never this one: a plain file's inode number is no namespace.
            if st.st_dev != nsfs.st_dev or st.st_ino == nsfs.st_ino:
                continue
            for pid in ns_pids(st.st_ino):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    os.kill(pid, signal.SIGCONT)
        subprocess.run(["umount", "--", str(ns)], capture_output=True, timeout=30)
    if rack.exists():
        subprocess.run(["umount", "--", str(rack)], capture_output=True, timeout=30)
        try:
            shutil.rmtree(rack)
        except OSError as e:
            left.append(f"{rack} could not be removed: {e}")
    return left
