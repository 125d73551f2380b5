#!/bin/bash
# kernel: install a kernel tree (a bzImage and its modules) into blade roots: the modules, the image,
# the module index and the netboot initramfs (built in the root, by its own initramfs-tools config).
# Usage: kernel_tree_install.sh MODULES_TAR IMAGE RELEASE NFSROOT_DIR BLADE...
set -euo pipefail
tar=$1 image=$2 rel=$3 dir=$4
shift 4
for blade in "$@"; do
  r="$dir/$blade"
  rm -rf "$r/lib/modules/$rel.new"
  mkdir -p "$r/lib/modules/$rel.new"
  tar -xzf "$tar" -C "$r/lib/modules/$rel.new"
  rm -rf "$r/lib/modules/$rel"
  mv "$r/lib/modules/$rel.new" "$r/lib/modules/$rel"
  install -o root -g root -m 0644 "$image" "$r/boot/vmlinuz-$rel"
  mount -t proc proc "$r/proc"; mount --bind /dev "$r/dev"; mount -t sysfs sys "$r/sys"
  trap 'umount "$r/proc" "$r/dev" "$r/sys"' EXIT
  chroot "$r" depmod "$rel"
  chroot "$r" mkinitramfs -o "/boot/initrd.img-$rel" "$rel"
  umount "$r/proc" "$r/dev" "$r/sys"
  trap - EXIT
  echo "changed: installed kernel tree $rel in $blade"
done
