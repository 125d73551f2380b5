#!/usr/bin/env python3
"""Benchmark: scan 1 GiB of dmesg text with swaplab's file scanner.

The input repeats the real captured boot log tests/unit/logs/qemu-6.1-faults.dmesg.log
(a 6.1 kernel with OOM, WARN, hung task, lockups, oops, BUG) until it reaches the
size asked for, so about 1 line in 80 carries a finding.  Target: < 10 s for 1 GiB.

Usage: bench/bench_scan_log.py [--mib 1024] [--keep PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swaplab.detect.scan import scan_path  # noqa: E402

SEED = ROOT / "tests/unit/logs/qemu-6.1-faults.dmesg.log"


def build(path: Path, mib: int) -> int:
    seed = SEED.read_bytes()
    target = mib << 20
    with open(path, "wb") as f:
        written = 0
        while written < target:
            f.write(seed)
            written += len(seed)
    return written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--keep", type=Path, help="keep the generated log at this path")
    args = ap.parse_args()
    path = args.keep or Path(tempfile.mkdtemp()) / "bench-dmesg.log"
    size = build(path, args.mib)
    t0 = time.perf_counter()
    result = scan_path(str(path))
    dt = time.perf_counter() - t0
    copies = size // SEED.stat().st_size
    print(
        f"scanned {size / (1 << 20):.0f} MiB, {result.lines} lines, {len(result.findings)} findings "
        f"({len(result.findings) // max(copies, 1)} per copy) in {dt:.2f} s = {size / (1 << 20) / dt:.0f} MiB/s"
    )
    if not args.keep:
        os.unlink(path)


if __name__ == "__main__":
    main()
