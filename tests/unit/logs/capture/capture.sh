#!/bin/bash
# Boot a Debian kernel under QEMU (TCG) with a tiny initramfs that provokes
# real OOM kills, WARNs, allocation failures, hung tasks, soft lockups, RCU
# stalls, oopses, a kernel BUG and a panic, and keep the serial console.
# Usage: capture.sh KERNEL_DEB OUTDIR      (needs the matching linux-headers
# package installed, gcc, busybox-static, cpio, qemu-system-x86)
set -euo pipefail
deb=$1; out=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/k"
rel=$(ls "$work/k/lib/modules")
cp "$here/swaplab_faults.c" "$here/Makefile" "$work/"
make -s -C "/usr/src/linux-headers-$rel" M="$work" modules
mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/sys" "$work/root/dev"
cp /bin/busybox "$work/root/bin/busybox"
gcc -static -O2 -o "$work/root/hog" "$here/hog.c"
cp "$work/swaplab_faults.ko" "$work/root/"
cp "$work/k/lib/modules/$rel/kernel/drivers/block/brd.ko" "$work/root/"
install -m 755 "$here/init.sh" "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd"
mkdir -p "$out"
timeout 600 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 1 -m 256 -no-reboot \
  -kernel "$work/k/boot/vmlinuz-$rel" -initrd "$work/initrd" \
  -append "console=ttyS0 loglevel=7 panic=1 rcupdate.rcu_cpu_stall_timeout=7 zswap.enabled=0" \
  -nic none -display none -serial "file:$out/console.raw" -monitor none </dev/null || true
echo "$rel" > "$out/release"
