#!/bin/sh
# nbd_server: one export file per blade and an allow-list per export.
# Idempotent: prints one "changed: ..." line per change. Usage: nbd_server.sh DIR SIZE_MIB BLADE=ADDRESS...
# (environment: CONFIG, the nbd-server configuration)
set -eu
restart=no
# put FILE MODE CONTENT: write FILE only when its content differs; say so.
put() {
  if [ "$(cat "$1" 2>/dev/null)" != "$(printf '%s\n' "$3")" ]; then
    printf '%s\n' "$3" > "$1.swaplab" && chmod "$2" "$1.swaplab" && mv "$1.swaplab" "$1"
    echo "changed: wrote $1"
    return 0
  fi
  return 1
}

dir=$1 mib=$2
shift 2
[ -d "$dir" ] || { install -d -m 0750 -o root -g nbd "$dir"; echo "changed: created $dir"; }
[ -d /etc/nbd-server/allow ] || { install -d -m 0755 /etc/nbd-server/allow; echo "changed: created /etc/nbd-server/allow"; }
for pair in "$@"; do
  blade=${pair%%=*} address=${pair#*=}
  img="$dir/$blade.img"
  # Fully allocated, not sparse: the baseline must not pay for block allocation the NFS swapfile does not.
  [ -f "$img" ] || { fallocate -l "${mib}MiB" "$img"; echo "changed: allocated $img ($mib MiB)"; }
  [ "$(stat -c %U:%G:%a "$img")" = nbd:nbd:600 ] || { chown nbd:nbd "$img"; chmod 0600 "$img"; echo "changed: $img now nbd:nbd 0600"; }
  allow="/etc/nbd-server/allow/$blade"
  if [ "$(cat "$allow" 2>/dev/null)" != "$address/32" ]; then
    printf '%s/32\n' "$address" > "$allow"
    echo "changed: $allow allows only $address"
    restart=yes
  fi
done
put /etc/nbd-server/config 0644 "$CONFIG" && restart=yes
systemctl is-enabled -q nbd-server || { systemctl enable -q nbd-server; echo "changed: enabled nbd-server"; }
# Not just is-active: the unit Debian generates from nbd-server's init script stays "active (exited)"
# after its processes died (a crash, a kill), so ask for the process too.
if [ "$restart" = yes ] || ! systemctl is-active -q nbd-server || ! pidof nbd-server >/dev/null; then
  systemctl restart nbd-server; echo "changed: restarted nbd-server"
fi
