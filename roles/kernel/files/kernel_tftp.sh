#!/bin/sh
# kernel: put the kernel and its netboot initramfs from a blade root into the TFTP tree.
# Idempotent: prints "changed: ..." per change. Usage: kernel_tftp.sh ROOT RELEASE TFTP_ROOT [check]
# With "check" (a NAS swaplab does not manage) nothing is written: a file that differs is an error.
# (environment: INROOT_SH: the root's files are resolved inside it, so a planted link cannot serve
# a NAS file over TFTP)
set -eu
eval "$INROOT_SH"
root=$1 rel=$2 tftp=$3 mode=${4:-write}
dst="$tftp/kernels/$rel"
if [ "$mode" = check ]; then
  [ -d "$dst" ] || { echo "$dst is missing on the NAS: install the kernel under test there" >&2; exit 3; }
else
  [ -d "$dst" ] || { install -d -m 0755 "$dst"; echo "changed: created $dst"; }
fi
for pair in vmlinuz:vmlinuz initrd.img:initrd.img; do
  src=$(inroot "$root" "boot/${pair%%:*}-$rel") out="$dst/${pair#*:}"
  [ -f "$src" ] || { echo "$src is missing: the kernel is not installed in $root" >&2; exit 3; }
  cmp -s "$src" "$out" && continue
  [ "$mode" != check ] || { echo "$out differs from $src: the NAS does not serve the kernel under test" >&2; exit 3; }
  install -m 0644 "$src" "$out"
  echo "changed: $out"
done
