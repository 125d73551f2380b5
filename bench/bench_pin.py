#!/usr/bin/env python3
"""Benchmark: do the hog and the sampler locking their own pages in RAM change the trial times?

Against a lab that is up and provisioned (default: the virtual lab's inventory; bring one up with
`swaplab run --keep --suite config`), runs the hog trials with the pages locked (the default) and with
`--no-pin`, alternating (pinned first in odd pairs, unpinned first in even ones, so that a drift of the
host does not fall on one side), and prints each trial's time and the means per store. Run it in a
loopback-only namespace, with nothing else running:

    unshare --net -- sh -c 'ip link set lo up && .venv/bin/python bench/bench_pin.py --pairs 3'
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWAPLAB = str(Path(sys.executable).parent / "swaplab")


def one_run(inventory: str, working_set: str, pin: bool) -> dict[str, float]:
    args = ["run", "-i", inventory, "--no-provision", "--suite", "hog", "--trials", "1", "--precision", "0",
            "--working-set", working_set, *([] if pin else ["--no-pin"])]  # fmt: skip
    r = subprocess.run([SWAPLAB, *args], capture_output=True, text=True, check=False)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    if not last.endswith("/"):
        raise SystemExit(f"swaplab {' '.join(args)} printed no run directory:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    doc = json.loads((Path(last) / "results.json").read_text())
    times = {t["store"]: t["total_s"] for b in doc["blades"] for t in b["hog_trials"] if t["status"] == "done"}
    pinned = [json.loads(p.read_text()).get("pinned") for p in Path(last).glob("*/loads/hog-t1-*/hog.json")]
    print(f"  {'pinned  ' if pin else 'unpinned'} exit {r.returncode}: NFS {times.get('nfs', float('nan')):.1f} s, "
          f"NBD {times.get('nbd', float('nan')):.1f} s; hog.json pinned={pinned}; {last}", flush=True)  # fmt: skip
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-i", "--inventory", default=str(ROOT / "inventories" / "virtual" / "hosts.yml"))
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--working-set", default="1.25x")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for n in range(args.pairs):
        for pin in (True, False) if n % 2 == 0 else (False, True):
            runs[pin].append(one_run(args.inventory, args.working_set, pin))
    summary: dict[str, dict[str, list[float]]] = {}
    for store in ("nfs", "nbd"):
        row = {("pinned" if pin else "unpinned"): [r[store] for r in runs[pin] if store in r] for pin in (True, False)}
        summary[store] = row
        if row["pinned"] and row["unpinned"]:
            p, u = statistics.mean(row["pinned"]), statistics.mean(row["unpinned"])
            print(f"{store.upper()}: pinned {p:.1f} s, unpinned {u:.1f} s ({(p - u) / u * 100:+.1f}%)")
    if args.json:
        Path(args.json).write_text(json.dumps({"working_set": args.working_set, "pairs": args.pairs, **summary},
                                              indent=1) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
