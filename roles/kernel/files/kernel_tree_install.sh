#!/bin/bash
# kernel: install a kernel tree (a bzImage and its modules) into blade roots: the modules, the image,
# the module index and the netboot initramfs (built in the root, by its own initramfs-tools config).
# Usage: kernel_tree_install.sh MODULES_TAR IMAGE RELEASE NFSROOT_DIR BLADE...   (environment: INROOT_SH)
# Paths in a root are resolved inside it (inroot) before anything is written or mounted there.
set -euo pipefail
eval "$INROOT_SH"
tar=$1 image=$2 rel=$3 dir=$4
shift 4
for blade in "$@"; do
  r="$dir/$blade"
  mods=$(inroot "$r" lib/modules)
  mkdir -p "$mods"
  mods=$(inroot "$r" lib/modules)  # rm -rf removes a link itself, never what it points to
  rm -rf "$mods/$rel.new"
  mkdir "$mods/$rel.new"
  tar -xzf "$tar" -C "$mods/$rel.new"
  rm -rf "${mods:?}/${rel:?}"
  mv "$mods/$rel.new" "$mods/$rel"
  install -o root -g root -m 0644 "$image" "$(inroot "$r" "boot/vmlinuz-$rel")"
  proc=$(inroot "$r" proc) dev=$(inroot "$r" dev) sys=$(inroot "$r" sys)
  mount -t proc proc "$proc"; mount --bind /dev "$dev"; mount -t sysfs sys "$sys"
  trap 'unmount "$proc" "$dev" "$sys"' EXIT
  chroot "$r" depmod "$rel"
  chroot "$r" mkinitramfs -o "/boot/initrd.img-$rel" "$rel"
  unmount "$proc" "$dev" "$sys"
  trap - EXIT
  echo "changed: installed kernel tree $rel in $blade"
done
