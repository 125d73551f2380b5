#!/bin/sh
# nbd_swap: swap on an NBD device. Idempotent: prints "changed: ..." per change.
# Usage: nbd_swap.sh SERVER EXPORT DEVICE BLOCK_SIZE PRIORITY FLAG...
set -eu
server=$1 export=$2 dev=$3 bs=$4 prio=$5
shift 5
[ -d /sys/module/nbd ] || { modprobe nbd; echo "changed: loaded nbd"; }
if ! nbd-client -c "$dev" >/dev/null 2>&1; then
  nbd-client "$server" "$dev" -N "$export" -b "$bs" "$@" >/dev/null
  echo "changed: connected $dev to $server/$export"
fi
if ! swapon --show=NAME --noheadings --raw | grep -qxF "$dev"; then
  [ "$(blkid -p -o value -s TYPE "$dev" 2>/dev/null || true)" = swap ] || { mkswap -L nbdswap "$dev" >/dev/null; echo "changed: mkswap $dev"; }
  swapon -p "$prio" "$dev"
  echo "changed: swapon $dev"
fi
