"""`swaplab lab build`: the virtual lab's disks, made with debootstrap from the host's mirror.

What is built is *hardware*, not configuration: a NAS disk with Debian 12 and
the server packages installed (the VMs reach no package registry), and the
blades' golden root filesystem (with Debian's stock kernel and a netboot
initramfs) stored on that disk as ``/srv/images/blade-root.tar``, where a lab
team would keep its images. Exports, dnsmasq, NBD, per-blade roots and swap
are Ansible's job (``roles/``), exactly as on a physical lab.

Rebuilt only when an input changes: the inputs are hashed into a stamp.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from swaplab import errors
from swaplab.lab.paths import LabPaths

SUITE = "bookworm"
NAS_PACKAGES = [
    "systemd-sysv", "udev", "kmod", "netbase", "iproute2", "procps", "openssh-server",
    "python3", "python3-apt", "nfs-kernel-server", "nbd-server", "dnsmasq", "ipxe", "e2fsprogs", "linux-image-amd64",
    # The host NAS's NFS server (its host kernel has no nfsd): off in the image, the nfs_server role
    # enables the one the inventory names.
    "nfs-ganesha", "nfs-ganesha-vfs",
]  # fmt: skip
GANESHA_UNITS = ("nfs-ganesha.service", "nfs-ganesha-lock.service", "nfs-ganesha-config.service")
BLADE_PACKAGES = [
    "systemd-sysv", "udev", "kmod", "netbase", "iproute2", "procps", "openssh-server", "python3", "nfs-common",
    "nbd-client", "fio", "stress-ng", "initramfs-tools", "linux-image-amd64", "gawk",
]  # fmt: skip
# Units that cost boot time or fail without hardware (prototype: e2scrub_reap alone took 27 s).
MASKED_UNITS = ["e2scrub_reap.service", "e2scrub_all.timer", "apt-daily.timer", "apt-daily-upgrade.timer",
                "man-db.timer", "fstrim.timer", "systemd-timesyncd.service", "getty-static.service",
                "getty@tty1.service", "systemd-networkd-wait-online.service"]  # fmt: skip
# More for blades, whose boot to ssh under TCG is most of a lab's bring-up (systemd-analyze on a
# blade: each of these took 4-7 s of the one vCPU; none is needed on a diskless test blade).
BLADE_INITRAMFS_MODULES = ("virtio_pci", "virtio_net", "nfsv3", "nfs")
NBD_INITRAMFS_HOOKS = ("nbd", "nbd-client")
DISABLED_HOOKS_DIR = "/usr/share/swaplab/initramfs-hooks-disabled"
BLADE_MASKED_UNITS = ["systemd-update-utmp.service", "systemd-update-utmp-runlevel.service",
                      "systemd-binfmt.service", "dev-hugepages.mount", "dev-mqueue.mount",
                      "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "kmod-static-nodes.service",
                      "modprobe@dm_mod.service", "modprobe@efi_pstore.service", "modprobe@fuse.service",
                      "modprobe@loop.service", "modprobe@drm.service", "systemd-pstore.service"]  # fmt: skip
# Modules udev would load for emulated hardware a blade does not use (IDE, floppy, speaker, KVM,
# CPU crypto): loading them costs seconds of TCG time at every boot. Blacklisting only stops autoload.
BLADE_BLACKLIST = ["floppy", "ata_piix", "pata_acpi", "ata_generic", "pcspkr", "kvm", "kvm_amd", "kvm_intel",
                   "psmouse", "serio_raw", "evdev", "joydev", "i2c_piix4", "aesni_intel", "ghash_clmulni_intel",
                   "polyval_clmulni", "sha512_ssse3", "crc32_pclmul", "crct10dif_pclmul"]  # fmt: skip
NAS_IMAGE_SIZE = "8G"
LAB_NET = "10.0.0"

Log = Callable[[str], None]


class BuildError(errors.Infrastructure):
    pass


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line format)."""
    candidates = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in candidates:
        if not path.exists():
            continue
        text = path.read_text()
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text, re.M
        )
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def _security_mirror(mirror: str) -> str:
    return mirror + "-security"


def _recipe(mirror: str) -> dict[str, object]:
    return {
        "suite": SUITE,
        "mirror": mirror,
        "nas": NAS_PACKAGES,
        "blade": BLADE_PACKAGES,
        "masked": MASKED_UNITS,
        "blade_masked": BLADE_MASKED_UNITS,
        "blacklist": BLADE_BLACKLIST,
        "builder": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }


def recipe_hash(mirror: str) -> str:
    return hashlib.sha256(json.dumps(_recipe(mirror), sort_keys=True).encode()).hexdigest()


def up_to_date(paths: LabPaths, mirror: str) -> bool:
    outputs = [paths.nas_image, paths.nas_kernel, paths.nas_initrd, paths.key, paths.nas_host_key_pub]
    return (
        paths.stamp.exists()
        and paths.stamp.read_text().strip() == recipe_hash(mirror)
        and all(p.exists() for p in outputs)
    )


PROGRESS_EVERY_S = 30.0


def _last_line(log_file: Path) -> str:
    """The last line of a build log, one line of plain text (for the progress line)."""
    try:
        with log_file.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 2048))
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "starting"
    text = "".join(ch for ch in (lines[-1] if lines else "starting") if ch.isprintable())
    return text.strip()[:80]


def _run(cmd: list[str], log_file: Path, **kw: object) -> None:
    with log_file.open("a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False, **kw)  # type: ignore[call-overload]
    if r.returncode != 0:
        raise BuildError(f"{cmd[0]} failed (exit {r.returncode}); see {log_file}")


def _chroot(root: Path, script: str, log_file: Path) -> None:
    """Run a shell script in a chroot with /proc, /sys and /dev mounted, no service starts."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    mounts = [("proc", "proc", ["-t", "proc"]), ("sys", "sys", ["-t", "sysfs"]), ("dev", "dev", ["--bind"])]
    done: list[Path] = []
    try:
        for src, dst, opts in mounts:
            target = root / dst
            subprocess.run(["mount", *opts, "/" + src if opts == ["--bind"] else src, str(target)], check=True)
            done.append(target)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        _run(["chroot", str(root), "/bin/sh", "-ec", script], log_file, env=env)
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], check=False)
        policy.unlink(missing_ok=True)


def _debootstrap(root: Path, packages: list[str], mirror: str, cache: Path, log_file: Path) -> None:
    base = [p for p in packages if p != "linux-image-amd64"]
    cache.mkdir(parents=True, exist_ok=True)
    _run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(base)}", f"--cache-dir={cache}", SUITE,
         str(root), mirror],
        log_file,
    )  # fmt: skip
    # Stable + updates + security: the same kernel `apt-get download linux-image-amd64` gives the host.
    (root / "etc/apt/sources.list").write_text(
        f"deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\n"
        f"deb {_security_mirror(mirror)} {SUITE}-security main\n"
    )


def _common_config(root: Path, hostname: str, pubkey: str) -> None:
    (root / "etc/hostname").write_text(hostname + "\n")
    ssh = root / "root/.ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(pubkey)
    (ssh / "authorized_keys").chmod(0o600)
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Identity is per machine: never ship one in an image.
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()


def _install_kernel(root: Path, log_file: Path) -> None:
    """Debian's stock kernel from stable + updates + security; no host keys left behind."""
    _chroot(root, "apt-get update -q && apt-get install -y -q --no-install-recommends linux-image-amd64 "
                  "&& apt-get clean && rm -rf /var/lib/apt/lists/*", log_file)  # fmt: skip
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()


def _build_blade_root(root: Path, mirror: str, cache: Path, pubkey: str, log_file: Path) -> None:
    _debootstrap(root, BLADE_PACKAGES, mirror, cache, log_file)
    _common_config(root, "blade", pubkey)
    # The netboot initramfs must be configured before the kernel is installed. Only the modules a
    # virtual blade boots with: MODULES=netboot carries every NIC driver (80 MB unpacked, 29 MB
    # to fetch), which does not fit a 192 MiB blade while it unpacks.
    conf = root / "etc/initramfs-tools/initramfs.conf"
    text = re.sub(r"^MODULES=.*$", "MODULES=list", conf.read_text(), flags=re.M)
    conf.write_text(text + "BOOT=nfs\n")
    (root / "etc/initramfs-tools/modules").write_text(
        "# swaplab: the virtual blade's NIC and its NFS root (dependencies follow)\n"
        + "".join(f"{m}\n" for m in BLADE_INITRAMFS_MODULES)
    )
    # nbd-client's initramfs hooks (for an NBD root) add every NIC driver and gnutls whatever
    # MODULES says: 52 MB of the 71 MB unpacked, and a 160 MiB blade ran out of memory unpacking
    # it. A blade's root is NFS and its NBD swap starts after boot: divert the hooks away, the
    # Debian way (dpkg keeps the diversion through upgrades of nbd-client), out of the hooks
    # directory: mkinitramfs runs every executable there, "nbd.disabled" included.
    (root / DISABLED_HOOKS_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for hook in NBD_INITRAMFS_HOOKS:
        path = f"/usr/share/initramfs-tools/hooks/{hook}"
        _chroot(root, f"dpkg-divert --local --rename --divert {DISABLED_HOOKS_DIR}/{hook} --add {path}", log_file)
    (root / "etc/network").mkdir(exist_ok=True)
    # eth0 is configured by the initramfs; if ifupdown touched it, the NFS root would be lost.
    (root / "etc/network/interfaces").write_text("auto lo\niface lo inet loopback\n")
    (root / "etc/fstab").write_text("tmpfs /tmp tmpfs defaults,size=64m 0 0\n")
    (root / "etc/modules-load.d/nbd.conf").write_text("nbd\n")
    for unit in BLADE_MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (root / "etc/modprobe.d/swaplab-blade.conf").write_text(
        "# swaplab: emulated hardware a diskless test blade does not use\n"
        + "".join(f"blacklist {m}\n" for m in BLADE_BLACKLIST)
    )
    # The journal stays in RAM: nothing to flush to the NFS root at boot (journal-flush took 8 s).
    (root / "etc/systemd/journald.conf.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/journald.conf.d/swaplab.conf").write_text("[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n")
    # sshd's ExecStartPre config test costs ~8 s of TCG time; the config is ours and fixed.
    (root / "etc/systemd/system/ssh.service.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/system/ssh.service.d/swaplab.conf").write_text("[Service]\nExecStartPre=\n")
    _install_kernel(root, log_file)
    # The kernel may have come with debootstrap, before the configuration above: build its
    # initramfs again so that the image always holds the small one.
    _chroot(root, "update-initramfs -u -k all", log_file)


def _build_nas_root(root: Path, mirror: str, cache: Path, pubkey: str, host_key: Path, log_file: Path) -> None:
    _debootstrap(root, NAS_PACKAGES, mirror, cache, log_file)
    _common_config(root, "nas", pubkey)
    for link in (root / "etc/systemd/system").glob("*.wants/*"):
        if link.name in GANESHA_UNITS:
            link.unlink()
    _install_kernel(root, log_file)
    shutil.copy(host_key, root / "etc/ssh/ssh_host_ed25519_key")
    shutil.copy(host_key.with_suffix(".pub"), root / "etc/ssh/ssh_host_ed25519_key.pub")
    (root / "etc/ssh/ssh_host_ed25519_key").chmod(0o600)
    (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (root / "etc/ssh/sshd_config.d/swaplab.conf").write_text(
        "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nUseDNS no\n"
    )
    # systemd-networkd, not ifupdown: ifupdown-pre's udev settle alone cost 26 s of a TCG boot.
    net = root / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    (net / "10-lab.network").write_text(
        "# lab network (vde switch); the IPv6 address lets dnsmasq send router advertisements,\n"
        "# which cut iPXE's 13 s IPv6 autoconfiguration stall\n"
        f"[Match]\nName=eth0\n\n[Network]\nAddress={LAB_NET}.1/24\nAddress=fd00:10::1/64\n"
        "IPv6AcceptRA=no\nLinkLocalAddressing=ipv6\n"
    )
    (net / "20-mgmt.network").write_text(
        "# management (QEMU user network, forwarded to 127.0.0.1 only)\n[Match]\nName=eth1\n\n[Network]\nDHCP=ipv4\n"
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "systemd-networkd.service"
    link.unlink(missing_ok=True)
    link.symlink_to("/lib/systemd/system/systemd-networkd.service")
    (root / "etc/fstab").write_text("/dev/vda / ext4 defaults,noatime 0 1\n")
    (root / "srv/images").mkdir(parents=True, exist_ok=True)


def build(paths: LabPaths, log: Log, force: bool = False) -> bool:
    """Build the lab's images; return False when they were already up to date."""
    mirror = host_mirror()
    if not force and up_to_date(paths, mirror):
        paths.secure()
        log(f"lab images up to date ({paths.images})")
        return False
    for tool in ("debootstrap", "mkfs.ext4", "ssh-keygen", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed: run `make lab-deps` (it installs debootstrap, QEMU, vde2...)")
    paths.secure()
    work = paths.images / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    log_file = paths.images / "build.log"
    log_file.write_text("")
    t0 = time.monotonic()
    if not paths.key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swaplab-lab", "-f", str(paths.key)],
                       check=True)  # fmt: skip
    host_key = work / "nas_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nas", "-f", str(host_key)], check=True)
    pubkey = paths.key.with_suffix(".pub").read_text()
    nas_root, blade_root = work / "nas-root", work / "blade-root"
    log(f"debootstrap {SUITE} from {mirror}: NAS and blade roots in parallel (log: {log_file})")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futs = [
            pool.submit(_build_nas_root, nas_root, mirror, paths.images / "apt-nas", pubkey, host_key,
                        work / "nas.log"),
            pool.submit(_build_blade_root, blade_root, mirror, paths.images / "apt-blade", pubkey, work / "blade.log"),
        ]  # fmt: skip
        while not all(f.done() for f in futs):
            concurrent.futures.wait(futs, timeout=PROGRESS_EVERY_S, return_when=concurrent.futures.FIRST_EXCEPTION)
            if any(f.done() and f.exception() for f in futs):
                break
            if not all(f.done() for f in futs):
                log(f"  .. lab build {time.monotonic() - t0:.0f} s: NAS: {_last_line(work / 'nas.log')}; "
                    f"blade: {_last_line(work / 'blade.log')}")  # fmt: skip
        for f in futs:
            f.result()
    log(f"roots ready after {time.monotonic() - t0:.0f} s; packing the blade image onto the NAS disk")
    _run(["tar", "-C", str(blade_root), "--numeric-owner", "-cf", str(nas_root / "srv/images/blade-root.tar"), "."],
         log_file)  # fmt: skip
    kernels = sorted((nas_root / "boot").glob("vmlinuz-*"))
    initrds = sorted((nas_root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise BuildError("the NAS root has no kernel or initrd")
    shutil.copy(kernels[-1], paths.nas_kernel)
    shutil.copy(initrds[-1], paths.nas_initrd)
    tmp_img = paths.images / "nas.img.tmp"
    tmp_img.unlink(missing_ok=True)
    _run(["truncate", "-s", NAS_IMAGE_SIZE, str(tmp_img)], log_file)
    _run(["mkfs.ext4", "-q", "-F", "-L", "nasroot", "-d", str(nas_root), str(tmp_img)], log_file)
    os.replace(tmp_img, paths.nas_image)
    shutil.copy(host_key.with_suffix(".pub"), paths.nas_host_key_pub)
    shutil.rmtree(work)
    paths.stamp.write_text(recipe_hash(mirror) + "\n")
    paths.secure()
    log(f"lab images built in {time.monotonic() - t0:.0f} s: {paths.nas_image}")
    return True
