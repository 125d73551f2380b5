#!/bin/bash
# kernel: install a kernel package into blade roots (its postinst builds the netboot initramfs there).
# Usage: kernel_install.sh DEB NFSROOT_DIR BLADE...   (environment: INROOT_SH)
# Paths in a root are resolved inside it (inroot) before anything is copied or mounted there.
set -euo pipefail
eval "$INROOT_SH"
# A process the package's scripts started in the chroot can still be exiting (seen on a loaded host:
# "target is busy"): retry, then detach the mount lazily (it goes when that process does).
unmount() {
  local m
  for m in "$@"; do
    for _ in 1 2 3 4 5; do umount "$m" 2>/dev/null && continue 2; sleep 1; done
    umount -l "$m"
  done
}
deb=$1 dir=$2
shift 2
for blade in "$@"; do
  r="$dir/$blade"
  staged=$(inroot "$r" tmp/kernel.deb) proc=$(inroot "$r" proc) dev=$(inroot "$r" dev) sys=$(inroot "$r" sys)
  rm -f "$staged"
  cp "$deb" "$staged"
  mount -t proc proc "$proc"; mount --bind /dev "$dev"; mount -t sysfs sys "$sys"
  trap 'unmount "$proc" "$dev" "$sys"; rm -f "$staged"' EXIT
  chroot "$r" env DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/kernel.deb
  unmount "$proc" "$dev" "$sys"; rm -f "$staged"
  trap - EXIT
  echo "changed: installed $(basename "$deb") in $blade"
done
