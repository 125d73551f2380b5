#!/bin/sh
# kernel: print "BLADE SHA256" of boot/vmlinuz-RELEASE in each blade root, or "BLADE -" when the root
# lacks the image, its modules index or its netboot initramfs.
# Usage: kernel_tree_state.sh NFSROOT_DIR RELEASE BLADE...
# (environment: INROOT_SH: paths in a root are resolved inside it)
set -eu
eval "$INROOT_SH"
dir=$1 rel=$2
shift 2
for blade in "$@"; do
  r="$dir/$blade"
  image=$(inroot "$r" "boot/vmlinuz-$rel")
  if [ -f "$image" ] && [ -f "$(inroot "$r" "lib/modules/$rel/modules.dep")" ] && [ -f "$(inroot "$r" "boot/initrd.img-$rel")" ]; then
    echo "$blade $(sha256sum "$image" | cut -d' ' -f1)"
  else
    echo "$blade -"
  fi
done
