#!/usr/bin/python3
"""A simulated blade's hog (``swaplab.sim``): the real hog's arguments, files and result, without the memory.

It reads the blade's MemTotal and active swap areas (the simulated blade's files), waits through the
trial as long as the rack's settings say (``/run/swaplab-blade/trial_s``; NFS a tenth slower than NBD,
a few percent of noise), rewriting ``--progress`` as the real hog does, then counts the excess over RAM
as swapped out and in (the blade's ``/proc/vmstat``) and writes the result the hog suite reads. Every page
verifies: a simulated blade has no swap path to damage. Python standard library only (it runs "on the blade").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

PAGE = 4096
BLADE = "/run/swaplab-blade"


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _write_json(path: str, data: dict[str, object]) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    size = ap.add_mutually_exclusive_group(required=True)
    size.add_argument("--mib", type=int)
    size.add_argument("--times-ram", type=float)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--order", default="reverse")
    ap.add_argument("--keep-verified", action="store_true")
    ap.add_argument("--run", type=int, default=os.getpid())
    ap.add_argument("--out", required=True)
    ap.add_argument("--progress")
    args = ap.parse_args(argv)
    mem = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in _read("/proc/meminfo").splitlines())
           if v.strip()}  # fmt: skip
    mem_kib = mem.get("MemTotal", 1 << 20)
    mib = args.mib if args.mib else int(mem_kib * args.times_ram / 1024)
    pages = mib * (1 << 20) // PAGE
    nfs = "/dev/nbd" not in _read("/proc/swaps")
    base = float(_read(f"{BLADE}/trial_s", "20").strip() or 20)
    seconds = base * (1.1 if nfs else 1.0) * random.uniform(0.97, 1.03)  # noqa: S311 - noise, not a secret
    t0 = time.monotonic()
    while (done := time.monotonic() - t0) < seconds:
        if args.progress:
            share = done / seconds
            phase = "write" if share < 0.5 else "verify1"
            _write_json(args.progress, {"phase": phase, "pages_done": int(pages * share), "pages": pages,
                                        "seconds": done})  # fmt: skip
        time.sleep(min(5.0, seconds - done))
    excess = max(0, pages - mem_kib * 1024 // PAGE)
    counters = {}
    for line in _read("/proc/vmstat").splitlines():
        key, _, value = line.partition(" ")
        counters[key] = int(value or 0)
    counters["pswpout"] = counters.get("pswpout", 0) + excess
    counters["pswpin"] = counters.get("pswpin", 0) + excess
    with open("/proc/vmstat", "w") as f:  # the blade's own file (bound over /proc/vmstat)
        f.write("".join(f"{k} {v}\n" for k, v in counters.items()))
    total = time.monotonic() - t0
    swapped = 2 * excess * PAGE / (1 << 20)
    delta = {"pswpin": excess, "pswpout": excess, "oom_kill": 0, "pgscan_direct_throttle": 0, "pgmajfault": excess,
             "allocstall_normal": 0}  # fmt: skip
    _write_json(args.out, {
        "schema": 1, "mib": mib, "pages": pages, "page_size": PAGE, "passes": args.passes, "order": args.order,
        "release_verified": not args.keep_verified, "mem_total_kib": mem_kib,
        "swap_total_kib": mem.get("SwapTotal", 0), "pid": os.getpid(), "status": "done", "write_s": total / 2,
        "verify_s": total / 2, "bad_pages": 0, "first_bad": [], "total_s": total, "vmstat_delta": delta,
        "swapped_mib": swapped, "swap_mib_per_s": swapped / total, "working_set_mib_per_s": mib * 2 / total,
        "simulated": True,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
