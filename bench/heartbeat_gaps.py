#!/usr/bin/env python3
"""The longest silence of a blade's heartbeat, per boot, from the consoles a run kept.

The blade's sampler writes ``swaplab: heartbeat N`` to the kernel log every few seconds; the console shows
each line with the kernel's timestamp. A gap between two heartbeats of one boot (the timestamps start again
at a reboot) is how long the blade could not beat: the 45 s stall after a recovery was one. Reads every
``*.log`` under the run directories given (bounded: 64 MiB a file), prints one line per load's sampler.

    python bench/heartbeat_gaps.py reports/2026*/ [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

BEAT = re.compile(rb"\[\s*(\d+\.\d+)\]\s+swaplab: heartbeat (\d+)")
MAX_BYTES = 64 << 20


def boots(data: bytes) -> list[list[float]]:
    """The heartbeats' kernel times, one list per load's sampler: a count that starts again (a new load) or
    a time lower than the one before (a reboot) starts a new list; the sampler beats only during loads."""
    out: list[list[float]] = []
    last = -1
    for m in BEAT.finditer(data):
        t, n = float(m.group(1)), int(m.group(2))
        if not out or t < out[-1][-1] or n <= last:
            out.append([])
        out[-1].append(t)
        last = n
    return out


def gaps(paths: list[Path]) -> list[dict[str, object]]:
    rows = []
    for path in paths:
        for log in sorted(p for p in ([path] if path.is_file() else path.rglob("*.log")) if p.is_file()):
            with log.open("rb") as f:
                data = f.read(MAX_BYTES)
            for i, beats in enumerate(boots(data)):
                if len(beats) < 2:
                    continue
                longest = max(b - a for a, b in itertools.pairwise(beats))
                rows.append({"log": str(log), "boot": i + 1, "heartbeats": len(beats),
                             "longest_gap_s": round(longest, 1)})  # fmt: skip
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = gaps(args.paths)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['longest_gap_s']:>7} s  {r['heartbeats']:>5} beats  sampler {r['boot']}  {r['log']}")
        if rows:
            print(f"longest: {max(float(str(r['longest_gap_s'])) for r in rows)} s over {len(rows)} sampler run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
