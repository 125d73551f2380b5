#!/bin/sh
# pxe_server: the TFTP tree and iPXE for machines whose firmware is not iPXE.
# Idempotent: prints one "changed: ..." line per change. Usage: pxe_server.sh TFTP_ROOT
# (environment: BOOT_IPXE, the iPXE script; DNSMASQ_CONF, the dnsmasq configuration;
#  HTTP_UNIT, the boot-over-HTTP service, or empty for TFTP only)
set -eu
# put (roles/swaplab_lib/files/lib.sh), handed over by the task as SWAPLAB_LIB.
[ -n "${SWAPLAB_LIB:-}" ] || { echo "SWAPLAB_LIB is empty: run this script from its role" >&2; exit 2; }
eval "$SWAPLAB_LIB"

tftp=$1
for d in "$tftp" "$tftp/kernels"; do
  [ -d "$d" ] || { install -d -m 0755 "$d"; echo "changed: created $d"; }
done
cmp -s /usr/lib/ipxe/undionly.kpxe "$tftp/undionly.kpxe" || {
  install -m 0644 /usr/lib/ipxe/undionly.kpxe "$tftp/undionly.kpxe"; echo "changed: installed undionly.kpxe"; }
put "$tftp/boot.ipxe" 0644 "$BOOT_IPXE" || true
# Proxy-DHCP's pxe-service names files without their ".0" (dnsmasq adds it): the same two files.
for pair in undionly.kpxe:undionly.0 boot.ipxe:boot.ipxe.0; do
  src="$tftp/${pair%%:*}" dst="$tftp/${pair#*:}"
  cmp -s "$src" "$dst" || { install -m 0644 "$src" "$dst"; echo "changed: $dst"; }
done
restart=no
put /etc/dnsmasq.d/swaplab.conf 0644 "$DNSMASQ_CONF" && restart=yes
systemctl is-enabled -q dnsmasq || { systemctl enable -q dnsmasq; echo "changed: enabled dnsmasq"; }
if [ "$restart" = yes ] || ! systemctl is-active -q dnsmasq; then
  systemctl restart dnsmasq; echo "changed: restarted dnsmasq"
fi
unit=/etc/systemd/system/swaplab-boot-http.service
if [ -n "${HTTP_UNIT:-}" ]; then
  if put "$unit" 0644 "$HTTP_UNIT"; then
    systemctl daemon-reload; systemctl enable -q swaplab-boot-http; systemctl restart swaplab-boot-http
    echo "changed: (re)started swaplab-boot-http"
  elif ! systemctl is-active -q swaplab-boot-http; then
    systemctl start swaplab-boot-http; echo "changed: started swaplab-boot-http"
  fi
elif [ -f "$unit" ]; then
  systemctl disable -q --now swaplab-boot-http; rm -f "$unit"; systemctl daemon-reload
  echo "changed: removed swaplab-boot-http (TFTP only)"
fi
