#!/bin/sh
# nfsroot: one writable root per blade, unpacked from the golden image, each with its own identity.
# Idempotent: prints one "changed: ..." line per change, and "hostkey: BLADE TYPE KEY" for each blade.
# Usage: nfsroot.sh IMAGE DIR BLADE...   (environment: SYSCTL_CONF, the test sysctls file; INROOT_SH)
# Every path written in a root is resolved inside it first (inroot): the blade owns its root.
set -eu
eval "$INROOT_SH"
image=$1 dir=$2
shift 2
[ -f "$image" ] || { echo "golden image $image is missing on the NAS" >&2; exit 3; }
pids=""
for blade in "$@"; do
  r="$dir/$blade"
  [ -d "$r" ] || { install -d -m 0755 "$r"; echo "changed: created $r"; }
  if [ ! -f "$(inroot "$r" etc/os-release)" ]; then
    # Only into an empty directory: tar follows links a blade may have planted in a half-root.
    [ -z "$(ls -A "$r")" ] || { echo "$r has no etc/os-release but is not empty: remove it to have it unpacked anew" >&2; exit 3; }
    tar -C "$r" --numeric-owner -xf "$image" &  # one unpack per blade, in parallel
    pids="$pids $!"
    echo "changed: unpacked $image into $r"
  fi
done
for pid in $pids; do wait "$pid" || { echo "unpacking $image failed" >&2; exit 1; }; done
for blade in "$@"; do
  r="$dir/$blade"
  f=$(inroot "$r" etc/hostname)
  [ "$(cat "$f")" = "$blade" ] || { echo "$blade" > "$f"; echo "changed: hostname $blade"; }
  f=$(inroot "$r" etc/machine-id)
  if [ ! -s "$f" ]; then
    tr -d '-' < /proc/sys/kernel/random/uuid > "$f"
    echo "changed: generated machine-id for $blade"
  fi
  key=$(inroot "$r" etc/ssh/ssh_host_ed25519_key)
  if [ ! -f "$key" ] || [ ! -f "$(inroot "$r" etc/ssh/ssh_host_ed25519_key.pub)" ]; then
    tmp=$(mktemp -d)
    ssh-keygen -q -t ed25519 -N '' -C "$blade" -f "$tmp/key"
    install -m 0600 "$tmp/key" "$key"
    install -m 0644 "$tmp/key.pub" "$(inroot "$r" etc/ssh/ssh_host_ed25519_key.pub)"
    rm -rf "$tmp"
    echo "changed: generated ssh host key for $blade"
  fi
  key=$(inroot "$r" etc/ssh/ssh_host_ed25519_key)
  conf=$(inroot "$r" etc/ssh/sshd_config.d/swaplab.conf)
  want="HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
UseDNS no"
  [ "$(cat "$conf" 2>/dev/null)" = "$want" ] || { printf '%s\n' "$want" > "$conf"; echo "changed: $conf"; }
  sysctl=$(inroot "$r" etc/sysctl.d/90-swaplab.conf)
  [ "$(cat "$sysctl" 2>/dev/null)" = "$(printf '%s\n' "$SYSCTL_CONF")" ] || { printf '%s\n' "$SYSCTL_CONF" > "$sysctl"; echo "changed: $sysctl"; }
  echo "hostkey: $blade $(cut -d' ' -f1,2 "$key.pub")"
done
