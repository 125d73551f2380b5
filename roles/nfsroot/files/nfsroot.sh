#!/bin/sh
# nfsroot: one writable root per blade, unpacked from the golden image, each with its own identity.
# Idempotent: prints one "changed: ..." line per change, and "hostkey: BLADE TYPE KEY" for each blade.
# Usage: nfsroot.sh IMAGE DIR BLADE...   (environment: SYSCTL_CONF, the test sysctls file)
set -eu
image=$1 dir=$2
shift 2
[ -f "$image" ] || { echo "golden image $image is missing on the NAS" >&2; exit 3; }
pids=""
for blade in "$@"; do
  r="$dir/$blade"
  [ -d "$r" ] || { install -d -m 0755 "$r"; echo "changed: created $r"; }
  if [ ! -f "$r/etc/os-release" ]; then
    tar -C "$r" --numeric-owner -xf "$image" &  # one unpack per blade, in parallel
    pids="$pids $!"
    echo "changed: unpacked $image into $r"
  fi
done
for pid in $pids; do wait "$pid" || { echo "unpacking $image failed" >&2; exit 1; }; done
for blade in "$@"; do
  r="$dir/$blade"
  [ "$(cat "$r/etc/hostname")" = "$blade" ] || { echo "$blade" > "$r/etc/hostname"; echo "changed: hostname $blade"; }
  if [ ! -s "$r/etc/machine-id" ]; then
    tr -d '-' < /proc/sys/kernel/random/uuid > "$r/etc/machine-id"
    echo "changed: generated machine-id for $blade"
  fi
  key="$r/etc/ssh/ssh_host_ed25519_key"
  [ -f "$key" ] || { ssh-keygen -q -t ed25519 -N '' -C "$blade" -f "$key"; echo "changed: generated ssh host key for $blade"; }
  conf="$r/etc/ssh/sshd_config.d/swaplab.conf"
  want="HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
UseDNS no"
  [ "$(cat "$conf" 2>/dev/null)" = "$want" ] || { printf '%s\n' "$want" > "$conf"; echo "changed: $conf"; }
  sysctl="$r/etc/sysctl.d/90-swaplab.conf"
  [ "$(cat "$sysctl" 2>/dev/null)" = "$(printf '%s\n' "$SYSCTL_CONF")" ] || { printf '%s\n' "$SYSCTL_CONF" > "$sysctl"; echo "changed: $sysctl"; }
  echo "hostkey: $blade $(cut -d' ' -f1,2 "$key.pub")"
done
