#!/bin/sh
# kernel: print "BLADE VERSION" for the kernel package installed in each blade root ("-" if none).
# Usage: kernel_state.sh NFSROOT_DIR PACKAGE BLADE...
# (environment: INROOT_SH: paths in a root are resolved inside it)
set -eu
eval "$INROOT_SH"
dir=$1 pkg=$2
shift 2
for blade in "$@"; do
  v=$(dpkg-query --admindir="$(inroot "$dir/$blade" var/lib/dpkg)" -W -f='${Version}' "$pkg" 2>/dev/null || true)
  echo "$blade ${v:--}"
done
