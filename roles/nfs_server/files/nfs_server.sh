#!/bin/sh
# nfs_server: per-blade swap directories and swapfiles, and the NFS server enabled.
# Idempotent: prints one "changed: ..." line per change, nothing when all is in place.
# Usage: nfs_server.sh ROOT_DIR SWAP_DIR SWAPFILE_MIB BLADE...  (environment: EXPORTS, the exports file)
set -eu
# put FILE MODE CONTENT: write FILE only when its content differs; say so.
put() {
  if [ "$(cat "$1" 2>/dev/null)" != "$(printf '%s\n' "$3")" ]; then
    printf '%s\n' "$3" > "$1.swaplab" && chmod "$2" "$1.swaplab" && mv "$1.swaplab" "$1"
    echo "changed: wrote $1"
    return 0
  fi
  return 1
}

root_dir=$1 swap_dir=$2 mib=$3
shift 3
for d in "$root_dir" "$swap_dir" /etc/exports.d; do
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
if put /etc/exports.d/swaplab.exports 0644 "$EXPORTS"; then exportfs -ra; echo "changed: re-exported"; fi
systemctl is-enabled -q nfs-server || { systemctl enable -q nfs-server; echo "changed: enabled nfs-server"; }
systemctl is-active -q nfs-server || { systemctl start nfs-server; echo "changed: started nfs-server"; }
