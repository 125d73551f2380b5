#!/bin/sh
# pxe_server: the TFTP tree and iPXE for machines whose firmware is not iPXE.
# Idempotent: prints one "changed: ..." line per change. Usage: pxe_server.sh TFTP_ROOT
set -eu
tftp=$1
for d in "$tftp" "$tftp/kernels"; do
  [ -d "$d" ] || { install -d -m 0755 "$d"; echo "changed: created $d"; }
done
cmp -s /usr/lib/ipxe/undionly.kpxe "$tftp/undionly.kpxe" || {
  install -m 0644 /usr/lib/ipxe/undionly.kpxe "$tftp/undionly.kpxe"; echo "changed: installed undionly.kpxe"; }
