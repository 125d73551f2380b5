#!/usr/bin/env python3
"""Benchmark: swap served by the NAS VM, or by native servers on the host, to the same blade.

Brings up a 1-blade lab and provisions it (root, NFS and NBD swap from the NAS VM). Then, beside the
NAS VM, in the lab's own network namespace, it starts on the host: a tap joined to the lab's switch
(10.0.0.3, `vde_plug2tap`), nbd-server, and nfs-ganesha (VFS) with rpcbind. The two NFS daemons run
in a mount namespace of their own, with a private /run, so that nothing of theirs reaches the host's.
Each serves the blade, and only the blade, the same size of swap space as the NAS VM does.

Rounds of hog trials (default 2x RAM, every page verified) then run on each store in turn:
``vm-nfs``, ``host-nfs``, ``vm-nbd`` and ``host-nbd``, the order rotated per round so that slow drift
falls on each store alike. Printed per trial: the hog's time and throughput, and the CPU time the NAS
VM's QEMU and the host's servers used. The blade's root stays on the NAS VM throughout: the question
is what the swap path gains.

Needs `make lab-deps` plus nbd-server, nfs-ganesha and nfs-ganesha-vfs on the host. Run it with
nothing else on the machine, in a loopback-only namespace:

    unshare --net -- sh -c 'ip link set lo up && .venv/bin/python bench/bench_host_nas.py --rounds 2'
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swaplab import proctree  # noqa: E402
from swaplab.fleet.remote import Remote, RemoteError, ssh_config  # noqa: E402
from swaplab.inventory import load as load_inventory  # noqa: E402
from swaplab.lab.images import LAB_NET  # noqa: E402
from swaplab.lab.paths import LabPaths  # noqa: E402

SWAPLAB = str(Path(sys.executable).parent / "swaplab")
TAP = "swl-hnas"
HOST_ADDRESS = f"{LAB_NET}.3"
SWAP_MIB = 640  # the nfs_server and nbd_server roles' default size
STORES = ("vm-nfs", "host-nfs", "vm-nbd", "host-nbd")
HOST_NFS_MOUNT = "/mnt/hostnfs"
HOST_NBD_DEVICE = "/dev/nbd1"
NFS_OPTIONS = "hard,proto=tcp,vers={vers}"  # the nfs_swap role's options


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True)


def swaplab(*args: str) -> str:
    r = subprocess.run([SWAPLAB, *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"swaplab {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def _export(export_id: int, path: Path, pseudo: str, blade_address: str) -> str:
    """One Ganesha export (VFS), to the blade alone, unsquashed: as the nfs_server role writes them."""
    return f"""
EXPORT {{
    Export_Id = {export_id};
    Path = {path};
    Pseudo = {pseudo};
    Protocols = 3, 4;
    Transports = TCP;
    Access_Type = None;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {{ Name = VFS; }}
    CLIENT {{ Clients = {blade_address}; Access_Type = RW; }}
}}
"""


def ganesha_conf(work: Path, blade_address: str, root: bool) -> str:
    core = f"""
NFS_CORE_PARAM {{
    Protocols = 3, 4;
    Bind_addr = {HOST_ADDRESS};
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFSV4 {{
    Grace_Period = 15;
    Lease_Lifetime = 10;
    RecoveryBackend = fs;
    RecoveryRoot = {work}/v4recov;
}}
"""
    root_export = _export(2, work / "root", "/root", blade_address) if root else ""
    return root_export + core + _export(1, work / "swap", "/swap", blade_address)


def nbd_conf(work: Path) -> str:
    # root: the lab's run directory is 0700 (it holds the NAS's keys), so user nbd could read neither the
    # allow-list nor the export file (nbd-server then says "Access denied by server configuration").
    return f"""[generic]
    user = root
    group = root
    listenaddr = {HOST_ADDRESS}
    port = 10809
    allowlist = false
[blade1]
    exportname = {work}/blade1.img
    authfile = {work}/nbd-allow
"""


class HostServers:
    """The tap, nbd-server, rpcbind and ganesha on the host, each stopped by its PID."""

    def __init__(self, run: Path, blade_address: str) -> None:
        self.work = run.resolve() / "hostnas"
        self.blade_address = blade_address
        self.root = False

    def copy_root(self, ssh: list[str], nas_root: str) -> float:
        """The blade's NFS root, copied from the NAS VM (tar over ssh); the seconds it took."""
        t0 = time.monotonic()
        (self.work / "root").mkdir(parents=True)
        src = subprocess.Popen([*ssh, "nas", f"tar -C {nas_root} --numeric-owner -cf - ."], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-C", str(self.work / "root"), "--numeric-owner", "-xf", "-"], stdin=src.stdout,
                       check=True)  # fmt: skip
        if src.wait() != 0:
            sys.exit("copying the blade's root from the NAS failed")
        self.root = True
        return time.monotonic() - t0

    def start(self) -> None:
        w = self.work
        w.mkdir(exist_ok=True)
        (w / "swap").mkdir()
        (w / "v4recov").mkdir()
        # The same files the roles make: a fully written swapfile (root 0600), a fully allocated NBD file.
        with open(w / "swap" / "swapfile", "wb") as f:
            block = b"swaplab\n" * (1 << 17)
            for _ in range(SWAP_MIB):
                f.write(block)
            os.fsync(f.fileno())
        os.chmod(w / "swap" / "swapfile", 0o600)
        sh("fallocate", "-l", f"{SWAP_MIB}MiB", str(w / "blade1.img"))
        os.chmod(w / "blade1.img", 0o600)
        (w / "nbd-allow").write_text(f"{self.blade_address}/32\n")
        (w / "nbd.conf").write_text(nbd_conf(w))
        (w / "ganesha.conf").write_text(ganesha_conf(w, self.blade_address, self.root))
        links = sh("ip", "-o", "link", "show").stdout
        if any(name.strip() not in ("lo", TAP) for name in (ln.split(":")[1] for ln in links.splitlines())):
            sys.exit("run this in a network namespace of its own (unshare --net): it makes a tap")
        run = w.parent
        sh("vde_plug2tap", "-s", str(run / "vde.ctl"), "-d", "-P", str(w / "tap.pid"), TAP)
        for _ in range(100):
            if TAP in sh("ip", "-o", "link", "show").stdout:
                break
            time.sleep(0.1)
        sh("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", TAP)
        sh("ip", "link", "set", TAP, "up")
        sh("nbd-server", "-C", str(w / "nbd.conf"), "-p", str(w / "nbd.pid"))
        # rpcbind and ganesha in a mount namespace with a private /run (rpcbind's socket and lock live there).
        script = (
            "set -e; mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p /run/rpcbind /run/ganesha; "
            f"rpcbind -w; echo $(cat /run/rpcbind.pid 2>/dev/null || pidof rpcbind) > {w}/rpcbind.pid; "
            f"ganesha.nfsd -f {w}/ganesha.conf -L {w}/ganesha.log -p {w}/ganesha.pid -N NIV_EVENT"
        )
        sh("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
        deadline = time.monotonic() + 30
        while "NOT IN GRACE" not in (w / "ganesha.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                sys.exit(f"ganesha did not come up: see {w / 'ganesha.log'}")
            time.sleep(0.5)

    def pids(self) -> dict[str, int]:
        out = {}
        for name in ("nbd", "rpcbind", "ganesha"):
            try:
                out[name] = int((self.work / f"{name}.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        return out

    def stop(self) -> None:
        for name in ("ganesha", "nbd", "rpcbind", "tap"):
            try:
                pid = int((self.work / f"{name}.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            start = proctree.start_time(pid)
            if start is not None:
                proctree.stop([*proctree.descendants(pid), (pid, start)], grace_s=10)


def cpu_s(pid: int) -> float:
    """User+system CPU seconds of ``pid`` and its descendants (children that exited are not counted)."""
    total = 0
    for p in [pid, *(d[0] for d in proctree.descendants(pid))]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--times-ram", type=float, default=2.0)
    ap.add_argument("--blade-memory", type=int, default=192)
    ap.add_argument("--nfs-version", default="3", choices=("3", "4.1"))
    ap.add_argument("--stores", default=",".join(STORES))
    ap.add_argument("--root", default="vm", choices=("vm", "host"),
                    help="host: the blade boots its root from ganesha on the host too")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = ap.parse_args()
    stores = args.stores.split(",")
    paths = LabPaths.default()
    swaplab("lab", "build")
    t0 = time.monotonic()
    swaplab("lab", "up", "--blades", "1", "--blade-memory", str(args.blade_memory))
    servers: HostServers | None = None
    try:
        swaplab("provision")
        print(f"lab up and provisioned in {time.monotonic() - t0:.0f} s", flush=True)
        inv = load_inventory(str(ROOT / "inventories" / "virtual" / "hosts.yml"))
        hostvars = inv["_meta"]["hostvars"]
        cfg = paths.run / "bench-ssh.conf"
        cfg.write_text(ssh_config(hostvars, ["blade1", "nas"]))
        control = paths.run / "bench-ctl"
        control.mkdir(exist_ok=True)
        blade = Remote("blade1", cfg, control)
        blade_address = hostvars["blade1"]["ansible_host"]
        servers = HostServers(paths.run, blade_address)
        if servers.work.exists():
            shutil.rmtree(servers.work)
        nas_root = "/srv/nfsroot/blade1"
        if args.root == "host":
            took = servers.copy_root(Remote("nas", cfg, control).argv(), nas_root)
            print(f"blade root copied from the NAS VM in {took:.0f} s", flush=True)
        servers.start()
        print(f"host servers up: {servers.pids()}", flush=True)

        def run(cmd: str, timeout: float = 120) -> str:
            r = blade.run(cmd, timeout)
            if r.rc != 0:
                raise RuntimeError(f"blade: {cmd!r} failed ({r.rc}): {r.stderr.strip()[-500:]}")
            return r.stdout

        if args.root == "host":
            # The NAS's iPXE script points blade1's nfsroot at the host's ganesha; then a power-cycle.
            nas = Remote("nas", cfg, control)
            sed = f"s#nfsroot=[0-9.]*:{nas_root},#nfsroot={HOST_ADDRESS}:{servers.work / 'root'},#"
            r = nas.run(f"sed -i '{sed}' /srv/tftp/boot.ipxe && grep -c {HOST_ADDRESS} /srv/tftp/boot.ipxe", 60)
            if r.rc != 0:
                sys.exit(f"could not point the boot script at the host: {r.stderr}")
            t = time.monotonic()
            swaplab("lab", "power", "blade1", "cycle")
            blade.close()
            deadline = time.monotonic() + 600
            while True:
                with contextlib.suppress(RemoteError):  # not up yet
                    if blade.run("true", 20).rc == 0:
                        break
                if time.monotonic() > deadline:
                    sys.exit("the blade did not come back on the host's root within 600 s")
                time.sleep(5)
            print(f"blade booted its root from the host in {time.monotonic() - t:.0f} s: "
                  f"{run('findmnt -n -o SOURCE /').strip()}", flush=True)  # fmt: skip
            run("mountpoint -q /mnt/nfsswap || mount /mnt/nfsswap; nbd-client -c /dev/nbd0 >/dev/null || "
                f"nbd-client {LAB_NET}.1 /dev/nbd0 -N blade1 -b 4096 -nonetlink -swap -persist >/dev/null; "
                "swapoff -a")  # fmt: skip

        vers = args.nfs_version
        run(f"mkdir -p {HOST_NFS_MOUNT} && mount -t nfs -o {NFS_OPTIONS.format(vers=vers)} "
            f"{HOST_ADDRESS}:{'/swap' if vers.startswith('4') else servers.work / 'swap'} {HOST_NFS_MOUNT} && "
            f"mkswap {HOST_NFS_MOUNT}/swapfile >/dev/null")  # fmt: skip
        run(f"nbd-client {HOST_ADDRESS} {HOST_NBD_DEVICE} -N blade1 -b 4096 -nonetlink -swap -persist >/dev/null && "
            f"mkswap {HOST_NBD_DEVICE} >/dev/null")  # fmt: skip
        areas = {"vm-nfs": "/mnt/nfsswap/swapfile", "host-nfs": f"{HOST_NFS_MOUNT}/swapfile",
                 "vm-nbd": "/dev/nbd0", "host-nbd": HOST_NBD_DEVICE}  # fmt: skip
        hog = (
            "python3 /var/lib/swaplab/hog.py --times-ram {x} --order reverse --out /tmp/bench-hog.json >/dev/null"
            " && cat /tmp/bench-hog.json"
        )
        blade.run(
            "mkdir -p /var/lib/swaplab && cat > /var/lib/swaplab/hog.py",
            60,
            stdin=(ROOT / "swaplab" / "agent" / "hog.py").read_bytes(),
        )
        nas_pid = int((paths.run / "nas.pid").read_text())
        rows = []
        for rnd in range(args.rounds):
            order = stores[rnd % len(stores) :] + stores[: rnd % len(stores)]
            for store in order:
                run("swapoff -a; sync; echo 3 > /proc/sys/vm/drop_caches")
                run(f"swapon {areas[store]}")
                before = {"nas-vm": cpu_s(nas_pid), **{k: cpu_s(v) for k, v in servers.pids().items()}}
                t = time.monotonic()
                out = run(hog.format(x=args.times_ram), timeout=1800)
                wall = time.monotonic() - t
                after = {"nas-vm": cpu_s(nas_pid), **{k: cpu_s(v) for k, v in servers.pids().items()}}
                res = json.loads(out)
                cpu = {k: round(after[k] - before.get(k, 0), 1) for k in after}
                row = {"round": rnd + 1, "store": store, "total_s": res.get("total_s"), "wall_s": round(wall, 1),
                       "status": res.get("status"), "bad_pages": res.get("bad_pages"), "cpu_s": cpu,
                       "working_set_mib": res.get("mib"),
                       "swap_mib_per_s": round(res.get("swap_mib_per_s", 0), 2)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
        run("swapoff -a || true")
        print("\nsummary (hog total_s per store):")
        for store in stores:
            times = [r["total_s"] for r in rows if r["store"] == store and r["total_s"]]
            print(f"  {store:9s} {' '.join(f'{t:.1f}' for t in times)}")
        (paths.base / "bench-host-nas.json").write_text(json.dumps(rows, indent=1) + "\n")
    finally:
        if servers is not None:
            servers.stop()
        if not args.keep:
            swaplab("lab", "down")


if __name__ == "__main__":
    main()
