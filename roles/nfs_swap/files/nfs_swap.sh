#!/bin/sh
# nfs_swap: swap on a file on a hard, TCP NFS mount. Idempotent: prints "changed: ..." per change.
# Usage: nfs_swap.sh SERVER:EXPORT MOUNTPOINT OPTIONS SWAPFILE SIZE_MIB PRIORITY
set -eu
src=$1 mnt=$2 opts=$3 file=$4 mib=$5 prio=$6
[ -d "$mnt" ] || { install -d -m 0700 "$mnt"; echo "changed: created $mnt"; }
line="$src $mnt nfs $opts 0 0"
grep -qxF "$line" /etc/fstab || {
  grep -v "[[:space:]]${mnt}[[:space:]]" /etc/fstab > /etc/fstab.swaplab || true
  printf '%s\n' "$line" >> /etc/fstab.swaplab && mv /etc/fstab.swaplab /etc/fstab
  echo "changed: fstab entry for $mnt"; }
if mountpoint -q "$mnt" && [ "$(findmnt -n -o SOURCE --mountpoint "$mnt")" != "$src" ]; then
  # Mounted from another export (the inventory changed): leave it, swap first, then mount the right one.
  swapon --show=NAME --noheadings --raw | while read -r f; do
    case "$f" in "$mnt"/*) swapoff "$f" ;; esac
  done
  umount "$mnt"
  echo "changed: unmounted $mnt (it was not $src)"
fi
mountpoint -q "$mnt" || { mount "$mnt"; echo "changed: mounted $src on $mnt"; }
if [ ! -f "$file" ]; then
  # From a non-zero source: no holes (swapon refuses them), nothing a NAS could dedupe away.
  yes swaplab | dd of="$file.tmp" bs=1M count="$mib" iflag=fullblock conv=fsync status=none
  mv "$file.tmp" "$file"
  echo "changed: wrote $file ($mib MiB)"
fi
[ "$(stat -c %U:%G:%a "$file")" = root:root:600 ] || { chown root:root "$file"; chmod 0600 "$file"; echo "changed: $file now root:root 0600"; }
if ! swapon --show=NAME --noheadings --raw | grep -qxF "$file"; then
  [ "$(blkid -p -o value -s TYPE "$file" 2>/dev/null || true)" = swap ] || { mkswap -L nfsswap "$file" >/dev/null; echo "changed: mkswap $file"; }
  swapon -p "$prio" "$file"
  echo "changed: swapon $file"
fi
