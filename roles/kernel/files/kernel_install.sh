#!/bin/bash
# kernel: install a kernel package into blade roots (its postinst builds the netboot initramfs there).
# Usage: kernel_install.sh DEB NFSROOT_DIR BLADE...   (environment: INROOT_SH)
# Paths in a root are resolved inside it (inroot) before anything is copied or mounted there.
set -euo pipefail
eval "$INROOT_SH"
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
