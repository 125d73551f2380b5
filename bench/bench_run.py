#!/usr/bin/env python3
"""Benchmark: the whole `swaplab run` on the virtual lab, and where its time goes.

Runs `swaplab run` with the options given (default: 1 blade, 3 trials, the defaults of
`swaplab run`), then prints the split from the run's results.json: NAS boot (lab up),
provisioning and the blades' power-cycle-to-ssh inside it, the tests and the loads inside
them, swaplab's own overhead (everything outside boots and loads), the per-trial hog
figures next to fio's for the same store, and the NFS/NBD ratio with its interval.
Run it in a loopback-only namespace, outside any other lab:

    unshare --net -- sh -c 'ip link set lo up && .venv/bin/python bench/bench_run.py -- --blades 1'
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

SWAPLAB = str(Path(sys.executable).parent / "swaplab")


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    t0 = time.monotonic()
    r = subprocess.run([SWAPLAB, "run", *args], capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    lines = r.stdout.strip().splitlines()
    if not lines or not lines[-1].endswith("/"):
        print(r.stdout[-3000:], r.stderr[-3000:], sep="\n")
        return 2
    doc = json.loads((Path(lines[-1]) / "results.json").read_text())
    t = doc["timings_s"]
    print(f"swaplab run {' '.join(args)}: exit {r.returncode} ({doc['verdict']}), wall {wall:.0f} s")
    for key in ("lab_build", "lab_up", "provision", "blade_boot", "tests", "loads", "lab_down", "boots", "overhead"):
        if key in t:
            print(f"  {key:10} {t[key]:7.0f} s")
    if t.get("overhead_pct") is not None:
        print(f"  overhead   {t['overhead_pct']:7.1f} % of the run")
    for b in doc["blades"]:
        print(f"{b['name']}: {b['counts']}")
        for trial in b["hog_trials"]:
            print(f"  hog t{trial['trial']} {trial['store']}: {trial['total_s']:.0f} s, {trial['mib']} MiB, "
                  f"swap {trial['swap_mib_per_s']:.1f} MiB/s")  # fmt: skip
        for run in b["fio"]:
            what = f"fio{' beside the hog' if run['under_pressure'] else ''} on {run['store']}"
            print(f"  {what}: " + ", ".join(f"{j['job']} {j['bw_mib_s']:.1f} MiB/s p99 {j['p99_ms'] or 0:.0f} ms"
                                           for j in run["jobs"]))  # fmt: skip
        ratio = b.get("ratio")
        if ratio:
            ci = (f"95% CI {ratio['ci95_low']:.2f}-{ratio['ci95_high']:.2f} (±{ratio['ci95_half_width_pct']:.1f}%)"
                  if ratio.get("ci95_low") is not None else "no CI (one pair)")  # fmt: skip
            print(f"  NFS/NBD ratio {ratio['ratio']:.2f}, {ci}; per pair {ratio['per_pair']}")
    print(lines[-1])
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
