#!/bin/sh
# nbd_server: one export file per blade and an allow-list per export.
# Idempotent: prints one "changed: ..." line per change. Usage: nbd_server.sh DIR SIZE_MIB BLADE=ADDRESS...
# (environment: CONFIG, the nbd-server configuration)
set -eu
# put (roles/swaplab_lib/files/lib.sh), handed over by the task as SWAPLAB_LIB.
[ -n "${SWAPLAB_LIB:-}" ] || { echo "SWAPLAB_LIB is empty: run this script from its role" >&2; exit 2; }
eval "$SWAPLAB_LIB"
# main_pid NAME: the daemon's own process (its parent is init); its children serve one client each.
main_pid() {
  for p in $(pidof "$1" 2>/dev/null); do
    [ "$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)" = 1 ] && { echo "$p"; return 0; }
  done
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
  # Read by nbd-server at each connection: a change needs no restart.
  put "/etc/nbd-server/allow/$blade" 0644 "$address/32" || true
done
changed=no
put /etc/nbd-server/config 0644 "$CONFIG" && changed=yes
systemctl is-enabled -q nbd-server || { systemctl enable -q nbd-server; echo "changed: enabled nbd-server"; }
# The running nbd-server cannot take an export it did not start with: Debian 12's (3.24) refuses every new
# connection after SIGHUP (tested), and a restart drops every connected blade's swap device. So it is
# (re)started only while no client is connected, and the configuration it started with is kept (its
# checksum, in /run) to know whether new exports wait for that.
started=/run/swaplab-nbd-server.config.sha256
want=$(sha256sum /etc/nbd-server/config | cut -d' ' -f1)
clients=$(ss -Htn state established '( sport = :10809 )' 2>/dev/null | wc -l)
# Not just is-active: the unit Debian generates from nbd-server's init script stays "active (exited)"
# after its processes died (a crash, a kill), so ask for the process too.
if ! systemctl is-active -q nbd-server || ! main_pid nbd-server >/dev/null; then
  systemctl restart nbd-server; echo "$want" > "$started"; echo "changed: started nbd-server"
elif [ "$changed" = yes ] || { [ -f "$started" ] && [ "$(cat "$started")" != "$want" ]; }; then
  if [ "$clients" -eq 0 ]; then
    systemctl restart nbd-server; echo "$want" > "$started"; echo "changed: restarted nbd-server (no client connected)"
  else
    echo "nbd-server has new exports and $clients client(s) connected: Debian 12's nbd-server cannot add an export while it runs, and a restart would drop every connected blade's swap device. Provision these blades when no blade swaps on NBD; the other blades were not touched" >&2
    exit 3
  fi
elif [ ! -f "$started" ]; then
  echo "$want" > "$started"  # a server started before swaplab kept its checksum: it runs this configuration
fi
