"""What a simulated blade's namespace holds in place of a kernel's and a blade's tools: the shims on its
PATH (swapon, mount, nbd-client, uname, ...), its /proc/vmstat and /proc/meminfo; and its sshd's
configuration. The hog is simulated; every other program (the sampler, Ansible's modules) is real."""

from __future__ import annotations

from pathlib import Path

BLADE_MOUNT = "/run/swaplab-blade"  # where a blade's own directory appears inside its namespace
MEM_TOTAL_KIB = 1 << 20

SHIMS = {
    # The hog is simulated; every other Python program (the sampler, Ansible's modules) is real.
    "python3": '#!/bin/sh\ncase "$1" in */hog.py) shift; exec /usr/bin/python3 {fakehog} "$@";; esac\n'
    'exec /usr/bin/python3 "$@"\n',
    "swapon": "#!/bin/sh\n# simulated blade: swapon [-p PRIO] PATH | --show=NAME ...\nprio=-2\n"
    "case \"$1\" in --show*) tail -n +2 /proc/swaps | awk '{{print $1}}'; exit 0;; esac\n"
    'while [ $# -gt 1 ]; do case "$1" in -p) prio=$2; shift 2;; *) shift;; esac; done\n'
    '[ -n "$1" ] || { cat /proc/swaps; exit 0; }\n'
    "awk -v p=\"$1\" '$1 == p {{ f = 1 }} END {{ exit !f }}' /proc/swaps && "
    '{{ echo "swapon: $1: swapon failed: Device or resource busy" >&2; exit 1; }}\n'
    'case "$1" in /dev/*) t=partition;; *) t=file;; esac\n'
    'printf "%s\\t%s\\t655356\\t0\\t%s\\n" "$1" "$t" "$prio" >> /proc/swaps\n',
    "swapoff": "#!/bin/sh\n# simulated blade: swapoff PATH\nt=$(awk -v p=\"$1\" '$1 != p' /proc/swaps)\n"
    'printf "%s\\n" "$t" > /proc/swaps\n',
    "mkswap": '#!/bin/sh\necho "Setting up swapspace version 1, size = 640 MiB"\n',
    # The swap roles' tools (nfs_swap.sh, nbd_swap.sh): no module is loaded into the host's kernel, no NBD
    # device connected; the NFS swap mount is a small tmpfs in the blade's own namespace.
    "modprobe": "#!/bin/sh\nexit 0\n",
    "nbd-client": '#!/bin/sh\n[ "$1" = -c ] && { echo 4242; exit 0; }\nexit 0\n',
    "blkid": "#!/bin/sh\necho swap\n",
    "mount": '#!/bin/sh\n[ $# -eq 1 ] && grep -q "[[:space:]]$1[[:space:]]nfs[[:space:]]" /etc/fstab && '
    'exec /usr/bin/mount -t tmpfs -o size=16m,mode=0700 swaplab-sim-nfs "$1"\nexec /usr/bin/mount "$@"\n',
    "dmesg": f"#!/bin/sh\ncat {BLADE_MOUNT}/dmesg\n",
    "stat": '#!/bin/sh\ncase "$*" in "-f -c %T /mnt/nfsswap/"*) echo nfs; exit 0;; esac\nexec /usr/bin/stat "$@"\n',
    "uname": f'#!/bin/sh\n[ "$1" = -r ] && {{ cat {BLADE_MOUNT}/release; exit 0; }}\nexec /usr/bin/uname "$@"\n',
}
VMSTAT = ("nr_free_pages 200000\npswpin 0\npswpout 0\npgmajfault 0\noom_kill 0\npgscan_direct_throttle 0\n"
          "allocstall_normal 0\n")  # fmt: skip
MEMINFO = (
    f"MemTotal:       {MEM_TOTAL_KIB} kB\nMemFree:         800000 kB\nMemAvailable:    900000 kB\n"
    "SwapTotal:      1310712 kB\nSwapFree:       1310712 kB\nDirty:               0 kB\n"
    "Writeback:           0 kB\n"
)


def sshd_config(rack: Path, address: str, pidfile: Path) -> str:
    return "\n".join([
        f"ListenAddress {address}:22", f"HostKey {rack / 'ssh_host_ed25519_key'}", f"PidFile {pidfile}",
        f"AuthorizedKeysFile {rack / 'authorized_keys'}", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "MaxSessions 10", "MaxStartups 10:30:100", "LogLevel ERROR", "Subsystem sftp internal-sftp",
        "PrintMotd no", "",
    ])  # fmt: skip
