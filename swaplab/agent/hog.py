#!/usr/bin/env python3
"""swaplab's memory hog. It runs on the blade (Python 3 standard library only).

It fills a working set larger than RAM with page-unique, non-zero content,
reads every page back, verifies it, and writes one JSON result:

- every page holds a 16-byte stamp (magic, run number, page index) repeated
  over the whole page, so no page is zero, no two pages are alike, and a page
  that comes back from swap wrong (or from the wrong slot) is named;
- throughput is the swap traffic (pswpin + pswpout deltas from /proc/vmstat)
  over the wall time, next to the working set over the wall time;
- the hog makes itself the OOM killer's first choice (oom_score_adj 1000), so
  that under OOM it is the hog that dies, not sshd or the NBD client.

The controller starts it detached with a hard time limit and reads the result
file; progress is rewritten every few seconds so that a blade that stops
answering still shows how far it got.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import struct
import sys
import time
from typing import Any

try:  # shipped beside this file on the blade; the package's when imported on the controller (tests)
    from swaplab.agent.pin import pin
except ImportError:
    from pin import pin  # type: ignore[import-not-found,no-redef]

PAGE = os.sysconf("SC_PAGE_SIZE")
MAGIC = b"SWPL"
STAMP = struct.Struct("<4sIQ")  # 16 bytes
REPEAT = PAGE // STAMP.size
MIB = 1 << 20
COUNTERS = ("pswpin", "pswpout", "oom_kill", "pgscan_direct_throttle", "pgmajfault", "allocstall_normal")
MAX_BAD_LISTED = 32
HEXDUMP_BYTES = 256  # of the first bad page, in the result
PROGRESS_EVERY_S = 5.0
RELEASE_PAGES = 256  # verified pages given back at a time (1 MiB of 4 KiB pages)


def meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            out[key] = int(rest.split()[0])
    return out


def vmstat() -> dict[str, int]:
    out = {}
    with open("/proc/vmstat") as f:
        for line in f:
            key, value = line.split()
            out[key] = int(value)
    return out


def page_content(run: int, index: int) -> bytes:
    return STAMP.pack(MAGIC, run, index) * REPEAT


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Progress:
    def __init__(self, path: str | None, pages: int) -> None:
        self.path = path
        self.pages = pages
        self.next_at = 0.0

    def __call__(self, phase: str, done: int, t0: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.path and (force or now >= self.next_at):
            self.next_at = now + PROGRESS_EVERY_S
            write_json(self.path, {"phase": phase, "pages_done": done, "pages": self.pages, "seconds": now - t0})


def describe(got: bytes, run: int) -> str:
    """What a page that came back wrong holds instead: zeros, another page's content (a swap slot mixed
    up), another run's stamp, or unknown bytes."""
    if not any(got):
        return "zeros"
    if got[:4] == MAGIC:
        _, r, j = STAMP.unpack_from(got)
        if r == run and got == page_content(run, j):
            return f"page {j}'s content"
        return f"a stamp of run {r} page {j}, not whole" if r == run else f"another run's stamp ({r}, page {j})"
    return "unknown bytes"


def fill(buf: bytearray | mmap.mmap, run: int, progress: Progress) -> float:
    """Write every page's content; the seconds it took."""
    t0 = time.monotonic()
    for i in range(len(buf) // PAGE):
        o = i * PAGE
        buf[o : o + PAGE] = page_content(run, i)
        if not i & 1023:
            progress("write", i, t0)
    return time.monotonic() - t0


def verify(
    buf: bytearray | mmap.mmap,
    run: int,
    passes: int,
    progress: Progress,
    order: str = "reverse",
    release: bool = False,
) -> dict[str, Any]:
    """Read every page back ``passes`` times; count and name the pages that differ.

    ``reverse`` reads the most recently written pages (still in RAM) first, so each page that
    went out to swap comes back exactly once. ``forward`` reads the oldest first: under LRU every
    page then faults and evicts one not yet read (thrashing, the most pressure).

    ``release`` (an mmap only) gives each verified MiB back to the kernel during the last pass
    (MADV_DONTNEED), so that a page coming in from swap does not push a verified one out: the
    excess over RAM then crosses the swap path exactly once each way (the throughput measure),
    instead of once out, once in and once more out.
    """
    bad = 0
    listed: list[dict[str, Any]] = []
    t0 = time.monotonic()
    pages = len(buf) // PAGE
    reverse = order == "reverse"
    indices = range(pages - 1, -1, -1) if reverse else range(pages)
    releasable = buf if release and isinstance(buf, mmap.mmap) else None
    for p in range(passes):
        last = p == passes - 1
        for n, i in enumerate(indices):
            o = i * PAGE
            if buf[o : o + PAGE] != page_content(run, i):
                bad += 1
                if len(listed) < MAX_BAD_LISTED:
                    got = bytes(buf[o : o + PAGE])
                    entry = {"pass": p, "page": i, "found": got[: STAMP.size].hex(), "holds": describe(got, run)}
                    if not listed:
                        entry["hexdump"] = got[:HEXDUMP_BYTES].hex()
                    listed.append(entry)
            if not n & 255:
                if releasable is not None and last and n:
                    # The RELEASE_PAGES pages verified just before page i (aligned to the walk's direction).
                    start = (i + 1) * PAGE if reverse else (i - RELEASE_PAGES) * PAGE
                    releasable.madvise(mmap.MADV_DONTNEED, start, RELEASE_PAGES * PAGE)
                if not n & 1023:
                    progress(f"verify{p + 1}", n, t0)
    return {"verify_s": time.monotonic() - t0, "bad_pages": bad, "first_bad": listed}


def hog(
    pages: int, run: int, passes: int, progress: Progress, order: str = "reverse", release: bool = True
) -> dict[str, Any]:
    # An anonymous mapping starts as untouched zero pages; bytearray(n) would memset the whole
    # working set first and push it through swap once before the hog has written anything.
    # Private anonymous memory, like any process's heap (Python's default for -1 is MAP_SHARED,
    # which is shmem: another swap path).
    buf = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    t_write = fill(buf, run, progress)
    return {"write_s": t_write, **verify(buf, run, passes, progress, order, release)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group(required=True)
    size.add_argument("--mib", type=int, help="working set in MiB")
    size.add_argument("--times-ram", type=float, help="working set as a multiple of MemTotal")
    ap.add_argument("--passes", type=int, default=1, help="verify passes (default 1)")
    ap.add_argument(
        "--order",
        choices=("reverse", "forward"),
        default="reverse",
        help="verify order: reverse (one clean pass through swap) or forward (thrashing)",
    )
    ap.add_argument(
        "--keep-verified",
        action="store_true",
        help="keep verified pages mapped (more pressure while verifying, more swap traffic)",
    )
    ap.add_argument("--run", type=int, default=os.getpid(), help="run number stamped into every page")
    ap.add_argument("--out", required=True, help="result JSON file")
    ap.add_argument("--progress", help="progress JSON file, rewritten every few seconds")
    ap.add_argument("--no-pin", action="store_true", help="leave the hog's own pages swappable (benchmarks)")
    args = ap.parse_args(argv)
    # Its own code and data stay in RAM (swaplab.agent.pin), before the working set is mapped (which
    # swaps): when pages come back wrong, the hog survives to name them.
    pin_error = "not asked (--no-pin)" if args.no_pin else pin(future=False)

    mem = meminfo()
    mib = args.mib if args.mib else int(mem["MemTotal"] * args.times_ram / 1024)
    pages = mib * MIB // PAGE
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    before = vmstat()
    t0 = time.monotonic()
    result: dict[str, Any] = {
        "schema": 1,
        "mib": mib,
        "pages": pages,
        "page_size": PAGE,
        "passes": args.passes,
        "order": args.order,
        "release_verified": not args.keep_verified,
        "mem_total_kib": mem["MemTotal"],
        "swap_total_kib": mem.get("SwapTotal", 0),
        "pid": os.getpid(),
        "pinned": not pin_error,
        "pin_error": pin_error,
    }
    try:
        result.update(
            hog(pages, args.run, args.passes, Progress(args.progress, pages), args.order, not args.keep_verified)
        )
        result["status"] = "done"
    except MemoryError:
        result["status"] = "memory_error"
    total = time.monotonic() - t0
    after = vmstat()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in COUNTERS}
    swapped_mib = (delta["pswpin"] + delta["pswpout"]) * PAGE / MIB
    result.update(
        total_s=total,
        vmstat_delta=delta,
        swapped_mib=swapped_mib,
        swap_mib_per_s=swapped_mib / total if total > 0 else 0.0,
        working_set_mib_per_s=mib * (1 + args.passes) / total if total > 0 else 0.0,
    )
    write_json(args.out, result)
    return 0 if result["status"] == "done" and not result.get("bad_pages") else 1


if __name__ == "__main__":
    sys.exit(main())
