#!/bin/sh
# kernel: print "BLADE SHA256" of boot/vmlinuz-RELEASE in each blade root, or "BLADE -" when the root
# lacks the image, its modules index or its netboot initramfs.
# Usage: kernel_tree_state.sh NFSROOT_DIR RELEASE BLADE...
set -eu
dir=$1 rel=$2
shift 2
for blade in "$@"; do
  r="$dir/$blade"
  if [ -f "$r/boot/vmlinuz-$rel" ] && [ -f "$r/lib/modules/$rel/modules.dep" ] && [ -f "$r/boot/initrd.img-$rel" ]; then
    echo "$blade $(sha256sum "$r/boot/vmlinuz-$rel" | cut -d' ' -f1)"
  else
    echo "$blade -"
  fi
done
