# shellcheck shell=sh
# inroot ROOT PATH: PATH resolved inside ROOT as a chroot would see it (an absolute link target is
# relative to ROOT, .. stops at ROOT), printed as ROOT/RESOLVED. A blade writes its own root: a link
# it planted (etc/hostname -> /etc/shadow, lib -> /lib) must never lead a NAS-side write, mount or
# copy out of that root. Fails (status 4) on a link loop. Sourced by the NAS-side scripts that touch
# blade roots (nfsroot, kernel): they receive it in the environment as INROOT_SH.
inroot() {
  _ir_root=$1 _ir_todo=${2#/} _ir_done='' _ir_hops=0
  while [ -n "$_ir_todo" ]; do
    _ir_c=${_ir_todo%%/*}
    case $_ir_todo in */*) _ir_todo=${_ir_todo#*/} ;; *) _ir_todo='' ;; esac
    case $_ir_c in
      '' | .) continue ;;
      ..) _ir_done=${_ir_done%/*}; continue ;;
    esac
    if [ -L "$_ir_root$_ir_done/$_ir_c" ]; then
      _ir_hops=$((_ir_hops + 1))
      [ "$_ir_hops" -le 40 ] || { echo "$_ir_root/$2: too many levels of links" >&2; return 4; }
      _ir_t=$(readlink "$_ir_root$_ir_done/$_ir_c")
      case $_ir_t in /*) _ir_done='' ;; esac
      _ir_todo=${_ir_t#/}${_ir_todo:+/$_ir_todo}
    else
      _ir_done=$_ir_done/$_ir_c
    fi
  done
  printf '%s\n' "$_ir_root$_ir_done"
}

# unmount MOUNTPOINT...: unmount what was mounted into a root for a chroot (/proc, /dev, /sys). A
# process the chroot's package scripts started can still be exiting (seen on a loaded host: "target
# is busy"): retry, then detach the mount lazily (it goes when that process does).
unmount() {
  for _um_m in "$@"; do
    _um_n=0
    until umount "$_um_m" 2>/dev/null; do
      _um_n=$((_um_n + 1))
      if [ "$_um_n" -ge 5 ]; then umount -l "$_um_m"; break; fi
      sleep 1
    done
  done
}
