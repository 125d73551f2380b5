#!/bin/sh
# nfs_server: per-blade swap directories and swapfiles, and the NFS server enabled.
# Idempotent: prints one "changed: ..." line per change, nothing when all is in place.
# Usage: nfs_server.sh IMPLEMENTATION ROOT_DIR SWAP_DIR SWAPFILE_MIB BLADE...
# IMPLEMENTATION: kernel (nfsd; EXPORTS is /etc/exports.d/swaplab.exports) or ganesha (nfs-ganesha;
# EXPORTS is /etc/ganesha/ganesha.conf).
set -eu
# put (roles/swaplab_lib/files/lib.sh), handed over by the task as SWAPLAB_LIB.
[ -n "${SWAPLAB_LIB:-}" ] || { echo "SWAPLAB_LIB is empty: run this script from its role" >&2; exit 2; }
eval "$SWAPLAB_LIB"
# clients PORT: how many connections clients hold to this NAS's PORT.
clients() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }

impl=$1 root_dir=$2 swap_dir=$3 mib=$4
shift 4
for d in "$root_dir" "$swap_dir"; do
  [ -d "$d" ] || { install -d -m 0755 -o root -g root "$d"; echo "changed: created $d"; }
done
pids=""
for blade in "$@"; do
  # The exported root directory must exist before exportfs (the nfsroot role fills it).
  [ -d "$root_dir/$blade" ] || { install -d -m 0755 -o root -g root "$root_dir/$blade"; echo "changed: created $root_dir/$blade"; }
  dir="$swap_dir/$blade"
  [ -d "$dir" ] || { install -d -m 0700 -o root -g root "$dir"; echo "changed: created $dir"; }
  f="$dir/swapfile"
  if [ ! -f "$f" ] && [ ! -L "$f" ]; then
    # From a non-zero source: no holes (swapon refuses them), nothing a NAS could dedupe or compress away.
    # One writer per blade, in parallel.
    (
      rm -f "$f.tmp"  # a link planted there goes, not what it points to
      yes swaplab | dd of="$f.tmp" bs=1M count="$mib" iflag=fullblock conv=fsync status=none
      [ "$(stat -c %s "$f.tmp")" -eq $((mib * 1048576)) ] || { echo "short swapfile $f.tmp" >&2; exit 1; }
      mv "$f.tmp" "$f"
    ) &
    pids="$pids $!"
    echo "changed: wrote $f ($mib MiB)"
  fi
done
for pid in $pids; do wait "$pid" || { echo "writing a swapfile failed" >&2; exit 1; }; done
for blade in "$@"; do
  f="$swap_dir/$blade/swapfile"
  # The blade writes its swap directory: a link it planted must not make chown/chmod act on a NAS file.
  [ ! -L "$f" ] || { echo "$f is a symbolic link, not a swapfile: remove it on the NAS" >&2; exit 3; }
  [ "$(stat -c %U:%G:%a "$f")" = root:root:600 ] || { chown root:root "$f"; chmod 0600 "$f"; echo "changed: $f now root:root 0600"; }
done
case "$impl" in
kernel)
  [ -d /etc/exports.d ] || { install -d -m 0755 -o root -g root /etc/exports.d; echo "changed: created /etc/exports.d"; }
  [ -d /etc/nfs.conf.d ] || { install -d -m 0755 -o root -g root /etc/nfs.conf.d; echo "changed: created /etc/nfs.conf.d"; }
  if put /etc/exports.d/swaplab.exports 0644 "$EXPORTS"; then exportfs -ra; echo "changed: re-exported"; fi
  if systemctl is-enabled -q nfs-ganesha 2>/dev/null; then systemctl disable -q --now nfs-ganesha; echo "changed: disabled nfs-ganesha"; fi
  systemctl is-enabled -q nfs-server || { systemctl enable -q nfs-server; echo "changed: enabled nfs-server"; }
  systemctl is-active -q nfs-server || { systemctl start nfs-server; echo "changed: started nfs-server"; }
  # Threads for a rack: raised live (rpc.nfsd keeps every connection), never lowered; kept for the next
  # start in nfs.conf.d.
  want=${NFSD_THREADS:-8}
  put /etc/nfs.conf.d/swaplab.conf 0644 "$(printf '[nfsd]\nthreads=%s' "$want")" || true
  have=$(cat /proc/fs/nfsd/threads 2>/dev/null || echo 0)
  if [ "$have" -lt "$want" ]; then rpc.nfsd "$want"; echo "changed: nfsd threads $have -> $want"; fi
  ;;
ganesha)
  changed=no
  [ -d /etc/ganesha ] || { install -d -m 0755 -o root -g root /etc/ganesha; echo "changed: created /etc/ganesha"; }
  put /etc/ganesha/ganesha.conf 0644 "$EXPORTS" && changed=yes
  if systemctl is-enabled -q nfs-server 2>/dev/null; then systemctl disable -q --now nfs-server; echo "changed: disabled nfs-server"; fi
  systemctl is-enabled -q nfs-ganesha || { systemctl enable -q nfs-ganesha; echo "changed: enabled nfs-ganesha"; }
  # A restart would stall every blade using the NAS (its NFSv4 state and grace period): with clients
  # connected, SIGHUP makes Ganesha read its EXPORT blocks again (new and changed exports; a change of
  # its server settings waits for a restart with no client connected, as on the first provisioning).
  if ! systemctl is-active -q nfs-ganesha; then
    systemctl start nfs-ganesha; echo "changed: started nfs-ganesha"
  elif [ "$changed" = yes ] && [ "$(clients 2049)" -gt 0 ]; then
    systemctl kill -s HUP --kill-whom=main nfs-ganesha
    echo "changed: nfs-ganesha re-read its exports; $(clients 2049) client connection(s) kept"
  elif [ "$changed" = yes ]; then
    systemctl restart nfs-ganesha; echo "changed: restarted nfs-ganesha (no client connected)"
  fi
  ;;
*) echo "nfs_server: unknown implementation $impl (kernel or ganesha)" >&2; exit 2 ;;
esac
