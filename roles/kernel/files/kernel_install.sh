#!/bin/bash
# kernel: install a kernel package into blade roots (its postinst builds the netboot initramfs there).
# Usage: kernel_install.sh DEB NFSROOT_DIR BLADE...
set -euo pipefail
deb=$1 dir=$2
shift 2
for blade in "$@"; do
  r="$dir/$blade"
  cp "$deb" "$r/tmp/kernel.deb"
  mount -t proc proc "$r/proc"; mount --bind /dev "$r/dev"; mount -t sysfs sys "$r/sys"
  trap 'umount "$r/proc" "$r/dev" "$r/sys"; rm -f "$r/tmp/kernel.deb"' EXIT
  chroot "$r" env DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/kernel.deb
  umount "$r/proc" "$r/dev" "$r/sys"; rm -f "$r/tmp/kernel.deb"
  trap - EXIT
  echo "changed: installed $(basename "$deb") in $blade"
done
