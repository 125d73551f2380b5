"""Before each hog trial (the default; ``run --no-settle-nas`` turns it off), the NAS writes back and
forgets what its page cache holds of this blade's NFS swapfile and NBD file, so that every trial meets the
NAS in the same state, not in whatever the previous trial left (its dirty pages still being written back,
or the other store's pages in its cache).

One command over the NAS's ssh, the same for the virtual lab's NAS container, its VM NAS and a rack's
NAS: GNU dd opens each file for writing without truncating it, ``fdatasync`` writes it back, and
``oflag=nocache`` with ``count=0`` drops the whole file's cached pages (``posix_fadvise(DONTNEED)``; no
write to ``/proc/sys``, which a container cannot make). Only this blade's two files: other blades'
trials go on meanwhile. The paths are the roles' (``nfs_server__swap_dir``, ``nbd_server__dir``), from
the validated inventory. A NAS swaplab does not manage (``swaplab_nas_managed: false``) is left alone: the
hog suite settles only a NAS the run provisions.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from swaplab.fleet.remote import Remote, RemoteError
from swaplab.fleet.settings import Settings

TIMEOUT_S = 120.0  # writing back a swapfile's dirty pages on a slow NAS disk


def command(swap_dir: str, nbd_dir: str, blade: str) -> str:
    """The NAS's shell command for ``blade`` (each path a validated inventory value, quoted again)."""
    files = " ".join(shlex.quote(f) for f in (f"{swap_dir}/{blade}/swapfile", f"{nbd_dir}/{blade}.img"))
    return (
        f'for f in {files}; do [ -f "$f" ] && [ ! -L "$f" ] || continue; '
        'dd if=/dev/null of="$f" oflag=nocache conv=notrunc,fdatasync count=0 status=none || exit 1; done'
    )


def settle(settings: Settings, blade: str) -> tuple[float, str]:
    """Settle the NAS for ``blade``'s next trial: (seconds it took, '' or why it could not)."""
    inv = settings.inv()
    cmd = command(inv.nas_var("nfs_server__swap_dir", "/srv/swap"), inv.nas_var("nbd_server__dir", "/srv/nbd"), blade)
    t0 = time.monotonic()
    try:
        r = Remote(settings.nas, Path(settings.ssh_config), Path(settings.control_dir)).run(cmd, timeout=TIMEOUT_S)
    except RemoteError as e:
        return time.monotonic() - t0, f"the NAS {settings.nas} could not be settled: {e}"
    why = "" if r.rc == 0 else f"settling the NAS {settings.nas} exited {r.rc}: {r.stderr.strip()[-200:]}"
    return time.monotonic() - t0, why
