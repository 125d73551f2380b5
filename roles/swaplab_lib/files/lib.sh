# shellcheck shell=sh
# Shell functions the NAS roles' scripts share. Not run on its own: the swaplab_lib role reads this file
# into a fact on the controller, each script's task hands it over in its environment (SWAPLAB_LIB), and
# the script evaluates it first. No module runs and no file is written on the NAS for it.

# put FILE MODE CONTENT: write CONTENT and a newline to FILE (MODE, replaced atomically) only when its
# content differs; say so, and return 0 when it wrote, 1 when FILE was already so.
put() {
  if [ "$(cat "$1" 2>/dev/null)" != "$(printf '%s\n' "$3")" ]; then
    printf '%s\n' "$3" > "$1.swaplab" && chmod "$2" "$1.swaplab" && mv "$1.swaplab" "$1"
    echo "changed: wrote $1"
    return 0
  fi
  return 1
}
