#!/usr/bin/env python3
"""swaplab's sampler: the blade's swap and memory counters once a second, into a CSV (standard library only).

It runs on the blade beside a load (started by the load's job script, killed with it) and costs one
process that reads two /proc files a second: no exec per sample, so nothing is paged back in from
the NFS root for it while the blade swaps. Each row is flushed as it is written, so a blade that
hangs keeps every sample up to the hang (the controller fetches the file afterwards, or from the
NFS root).

Columns: ``uptime_s`` (the kernel's clock, the one the console's timestamps use), then the
/proc/vmstat counters ``pswpin pswpout pgscan pgsteal oom_kill pgscan_direct_throttle`` (pgscan
and pgsteal summed over kswapd, direct and khugepaged) and the /proc/meminfo fields ``MemFree
SwapFree Dirty Writeback`` (kB).
"""

from __future__ import annotations

import argparse
import sys
import time

VMSTAT = ("pswpin", "pswpout", "pgscan", "pgsteal", "oom_kill", "pgscan_direct_throttle")
MEMINFO = ("MemFree", "SwapFree", "Dirty", "Writeback")
COLUMNS = ("uptime_s", *VMSTAT, *MEMINFO)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def sample() -> list[str]:
    vm: dict[str, int] = {"pgscan": 0, "pgsteal": 0}
    for line in _read("/proc/vmstat").splitlines():
        key, _, value = line.partition(" ")
        if key.startswith("pgscan_") and key != "pgscan_direct_throttle":
            vm["pgscan"] += int(value)
        elif key.startswith("pgsteal_"):
            vm["pgsteal"] += int(value)
        elif key in VMSTAT:
            vm[key] = int(value)
    mem = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        if key in MEMINFO:
            mem[key] = int(rest.split()[0])
    uptime = _read("/proc/uptime").split()[0]
    return [uptime, *(str(vm.get(k, 0)) for k in VMSTAT), *(str(mem.get(k, 0)) for k in MEMINFO)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="CSV file to append to")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    ap.add_argument("--max-samples", type=int, default=86400, help="stop after this many (default a day's)")
    args = ap.parse_args(argv)
    with open(args.out, "a", buffering=1) as out:
        if out.tell() == 0:
            out.write(",".join(COLUMNS) + "\n")
        for _ in range(args.max_samples):
            out.write(",".join(sample()) + "\n")  # line-buffered: written through at once
            time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
