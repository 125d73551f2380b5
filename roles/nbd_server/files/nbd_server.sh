#!/bin/sh
# nbd_server: one export file per blade and an allow-list per export.
# Idempotent: prints one "changed: ..." line per change. Usage: nbd_server.sh DIR SIZE_MIB BLADE=ADDRESS...
# (environment: CONFIG, the nbd-server configuration)
set -eu
reload=no
# put FILE MODE CONTENT: write FILE only when its content differs; say so.
put() {
  if [ "$(cat "$1" 2>/dev/null)" != "$(printf '%s\n' "$3")" ]; then
    printf '%s\n' "$3" > "$1.swaplab" && chmod "$2" "$1.swaplab" && mv "$1.swaplab" "$1"
    echo "changed: wrote $1"
    return 0
  fi
  return 1
}
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
put /etc/nbd-server/config 0644 "$CONFIG" && reload=yes
systemctl is-enabled -q nbd-server || { systemctl enable -q nbd-server; echo "changed: enabled nbd-server"; }
# Not just is-active: the unit Debian generates from nbd-server's init script stays "active (exited)"
# after its processes died (a crash, a kill), so ask for the process too. Running, it is never restarted:
# that would drop every connected blade's swap device. SIGHUP makes it read its configuration again and
# add the new exports (an export removed from the configuration stays served until its next start).
if ! systemctl is-active -q nbd-server || ! main=$(main_pid nbd-server); then
  systemctl restart nbd-server; echo "changed: started nbd-server"
elif [ "$reload" = yes ]; then
  kill -HUP "$main"; echo "changed: nbd-server (pid $main) re-read its configuration; its connections kept"
fi
