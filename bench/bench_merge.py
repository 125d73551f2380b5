#!/usr/bin/env python3
"""Benchmark: `swaplab merge` of a fleet: RACKS racks of BLADES blades, each blade a copy of a real blade's
typed results (tests/unit/data/runs/kernel-6.1-a: 19 cases, its hog trials, fio runs, findings and
health), renamed. Times the merge and its three outputs (results.json, junit.xml checked against the
schema, report.html) and the peak memory of the process. Goal: 10 racks of 100 blades within 30 s and
1 GiB.

    .venv/bin/python bench/bench_merge.py --racks 10 --blades 100
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from swaplab.report.merge import merge
from swaplab.report.outputs import write_outputs
from swaplab.report.results import RunResult

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tests" / "unit" / "data" / "runs" / "kernel-6.1-a"


def make_racks(base: Path, racks: int, blades: int) -> list[str]:
    template = RunResult.load(TEMPLATE / "results.json")
    blade = template.blades[0]
    specs = []
    for k in range(1, racks + 1):
        rack = copy.copy(template)
        rack.options = {**template.options, "inventory": f"/labs/rack{k}/hosts.yml"}
        rack.blades = []
        for i in range(1, blades + 1):
            b = copy.deepcopy(blade)
            b.name = f"r{k}-b{i:03d}"
            for c in b.cases:
                c.blade = b.name
            rack.blades.append(b)
        d = base / f"rack{k}"
        d.mkdir()
        (d / "results.json").write_bytes(rack.dumps())
        specs.append(str(d))
    return specs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--racks", type=int, default=10)
    ap.add_argument("--blades", type=int, default=100)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.monotonic()
        specs = make_racks(base, args.racks, args.blades)
        made = time.monotonic() - t0
        size = sum((Path(s) / "results.json").stat().st_size for s in specs)
        t1 = time.monotonic()
        result = merge(specs, base / "fleet", expect=[f"rack{k}" for k in range(1, args.racks + 1)])
        merged = time.monotonic() - t1
        t2 = time.monotonic()
        write_outputs(base / "fleet", result, lambda m: print(m, file=sys.stderr))
        written = time.monotonic() - t2
        out = {p.name: p.stat().st_size for p in (base / "fleet").iterdir() if p.is_file()}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"racks": args.racks, "blades": args.racks * args.blades, "input_mib": round(size / 2**20, 1),
               "make_s": round(made, 1), "merge_s": round(merged, 1), "outputs_s": round(written, 1),
               "total_s": round(merged + written, 1), "peak_rss_mib": round(peak_mib), "exit_code": result.exit_code,
               "outputs_mib": {k: round(v / 2**20, 1) for k, v in sorted(out.items())}}  # fmt: skip
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
