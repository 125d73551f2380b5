#!/bin/sh
# kernel: put the kernel and its netboot initramfs from a blade root into the TFTP tree.
# Idempotent: prints "changed: ..." per change. Usage: kernel_tftp.sh ROOT RELEASE TFTP_ROOT
set -eu
root=$1 rel=$2 tftp=$3
dst="$tftp/kernels/$rel"
[ -d "$dst" ] || { install -d -m 0755 "$dst"; echo "changed: created $dst"; }
for pair in vmlinuz:vmlinuz initrd.img:initrd.img; do
  src="$root/boot/${pair%%:*}-$rel" out="$dst/${pair#*:}"
  [ -f "$src" ] || { echo "$src is missing: the kernel is not installed in $root" >&2; exit 3; }
  cmp -s "$src" "$out" || { install -m 0644 "$src" "$out"; echo "changed: $out"; }
done
