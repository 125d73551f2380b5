"""Keep a shipped program's own memory out of reach of swap (standard library only; runs on the blade).

``mlockall(MCL_CURRENT | MCL_ONFAULT)`` locks each page of the process's mappings once it is touched:
the interpreter's code and data the program has used stay in RAM, and what it never touches costs
nothing (a plain ``MCL_CURRENT`` would pull in and pin every byte of libpython). Without it, a blade
under pressure evicts the hog's and the sampler's own code and heap: they then wait on swap and on the
NFS root like any process, the heartbeat stops while the kernel lives, and when swap hands back corrupt
pages the hog dies with the other processes before it can name them.
"""

from __future__ import annotations

import ctypes
import os

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4  # <sys/mman.h> on x86 and arm64; MCL_ONFAULT: Linux 4.4


def pin(future: bool) -> str:
    """Lock this process's pages as they are touched; ``future``: its later mappings too (the sampler;
    never the hog, whose working set must swap). "" when pinned, else why not (not root, an old kernel)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = MCL_CURRENT | MCL_ONFAULT | (MCL_FUTURE if future else 0)
        if libc.mlockall(flags) != 0:
            return f"mlockall: {os.strerror(ctypes.get_errno())}"
    except (OSError, AttributeError) as e:
        return f"mlockall: {e}"
    return ""
