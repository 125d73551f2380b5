#!/usr/bin/env python3
"""Where the NFS/NBD ratio's noise comes from: pairs of hog trials on one virtual lab under each candidate
setting, side by side in one sitting, each setting's per-pair coefficient of variation and trial time.

    unshare --net -- sh -c 'ip link set lo up && .venv/bin/python bench/bench_noise.py [--rounds 2] [--pairs 2]'

One lab bring-up (``swaplab run --keep --suite config``: provisioned, the blade booted), then ``--rounds``
rounds; in each, every setting runs ``swaplab run -i inventories/virtual/hosts.yml --no-provision --suite
hog,verdict --trials PAIRS --precision 0 --run-budget 0``, the settings' order rotated from round to round
so that a drift of the machine does not land on one setting. The lab is taken down at the end, whatever
happened. The candidates:

- ``plain``: the defaults before 6 December 2026 (``--no-settle-nas``; trials alternate NFS-first and
  NBD-first: ``stats.pair_order``).
- ``settle``: the NAS writes back and drops its cache of the blade's swapfile and NBD file before each
  trial (``swaplab.fleet.nas_settle``; the default since).
- ``pinned``: the blade's QEMU (every thread) on the last CPU, the NAS container's processes and the
  controller (this run's swaplab, its ssh and pytest) on the others: the emulated CPU no longer competes
  with the servers it swaps to.
- ``pinned+settle``: both.

Printed, and written to .cache/bench-noise.json: per setting, every pair's ratio, the ratios' coefficient of
variation (stdev/mean), the NFS and NBD trials' means and CVs, and the wall time of its runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swaplab.lab import machines  # noqa: E402
from swaplab.lab.paths import LabPaths  # noqa: E402
from swaplab.repo import VIRTUAL_INVENTORY  # noqa: E402

SWAPLAB = str(Path(sys.executable).parent / "swaplab")
SETTINGS = ("plain", "settle", "pinned", "pinned+settle")
OUT = ROOT / ".cache" / "bench-noise.json"


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def set_affinity(pids: list[int], cpus: set[int]) -> None:
    """Every thread of every process in ``pids`` onto ``cpus`` (a process gone meanwhile is skipped)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus)


def lab_pids() -> tuple[list[int], list[int]]:
    """(the blades' QEMU processes, the NAS container's processes), from the lab's pidfiles."""
    run = LabPaths.default().run

    def pid(name: str) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((run / name).read_text().split()[0])
        return None

    files = [f for f in sorted(run.glob("*.pid"))
             if f.stem not in machines.RESERVED_NAMES and not f.stem.startswith("bmc-")]  # fmt: skip
    blades = [p for f in files if (p := pid(f.name))]
    nas = pid("nas.pid")
    return blades, descendants(nas) if nas else []


@contextlib.contextmanager
def placed(setting: str) -> Iterator[list[str]]:
    """The setting applied for one run (the controller's own prefix returned), undone after it."""
    every = set(range(os.cpu_count() or 1))
    if "pinned" not in setting or len(every) < 2:
        yield []
        return
    blade_cpu, others = {max(every)}, every - {max(every)}
    blades, nas = lab_pids()
    set_affinity([p for b in blades for p in descendants(b)], blade_cpu)
    set_affinity(nas, others)
    try:
        yield ["taskset", "-c", ",".join(str(c) for c in sorted(others))]
    finally:
        blades, nas = lab_pids()
        set_affinity([p for b in blades for p in descendants(b)] + nas, every)


def trials_of(run_dir: Path) -> list[dict[str, object]]:
    """The run's finished hog trials (results.json: each blade's ``hog_trials``)."""
    doc = json.loads((run_dir / "results.json").read_text())
    return [{"trial": t["trial"], "store": t["store"], "total_s": t["total_s"]}
            for blade in doc["blades"] for t in blade.get("hog_trials", [])
            if t.get("trial") is not None and t.get("status") == "done" and t.get("total_s")]  # fmt: skip


def one_run(setting: str, pairs: int) -> dict[str, object]:
    args = ["run", "-i", str(VIRTUAL_INVENTORY), "--no-provision", "--suite", "hog,verdict", "--trials", str(pairs),
            "--precision", "0", "--run-budget", "0"]  # fmt: skip
    if "settle" not in setting:
        args.append("--no-settle-nas")
    with placed(setting) as prefix:
        t0 = time.monotonic()
        r = subprocess.run([*prefix, SWAPLAB, *args], capture_output=True, text=True, check=False)
        wall = time.monotonic() - t0
    lines = r.stdout.strip().splitlines()
    run_dir = Path(lines[-1]) if lines and lines[-1].endswith("/") else None
    trials = trials_of(run_dir) if run_dir and (run_dir / "results.json").is_file() else []
    print(f"{setting}: exit {r.returncode}, {wall:.0f} s, {run_dir}", flush=True)
    if r.returncode not in (0, 1):
        print(r.stderr[-2000:], flush=True)
    return {"exit": r.returncode, "wall_s": round(wall, 1), "run_dir": str(run_dir), "trials": trials}


def cv(xs: list[float]) -> float | None:
    return statistics.stdev(xs) / statistics.mean(xs) if len(xs) > 1 else None


def summary(runs: list[dict[str, object]]) -> dict[str, object]:
    ratios, nfs, nbd = [], [], []
    for run in runs:
        by = {(t["trial"], t["store"]): float(t["total_s"]) for t in run["trials"]}  # type: ignore[attr-defined]
        for (trial, store), s in by.items():
            if store == "nfs" and (trial, "nbd") in by:
                ratios.append(s / by[(trial, "nbd")])
                nfs.append(s)
                nbd.append(by[(trial, "nbd")])
    r3 = lambda x: None if x is None else round(x, 3)  # noqa: E731
    return {"pairs": len(ratios), "ratios": [round(r, 3) for r in ratios],
            "ratio_mean": r3(statistics.mean(ratios)) if ratios else None, "ratio_cv": r3(cv(ratios)),
            "nfs_mean_s": r3(statistics.mean(nfs)) if nfs else None, "nfs_cv": r3(cv(nfs)),
            "nbd_mean_s": r3(statistics.mean(nbd)) if nbd else None, "nbd_cv": r3(cv(nbd)),
            "wall_s": round(sum(float(r["wall_s"]) for r in runs), 1)}  # type: ignore[arg-type]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=2, help="pairs per run")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--table", type=Path, help="print the table of a saved result (its run directories read again)")
    a = ap.parse_args()
    if a.table:
        saved = json.loads(a.table.read_text())["runs"]
        for runs in saved.values():
            for run in runs:
                if Path(run["run_dir"], "results.json").is_file():
                    run["trials"] = trials_of(Path(run["run_dir"]))
        print_table({s: summary(r) for s, r in saved.items()})
        return 0
    settings = a.settings.split(",")
    t0 = time.monotonic()
    up = subprocess.run([SWAPLAB, "run", "--keep", "--suite", "config"], capture_output=True, text=True, check=False)
    if up.returncode != 0:
        print(up.stdout[-2000:], up.stderr[-2000:])
        subprocess.run([SWAPLAB, "lab", "down"], check=False)
        return 2
    runs: dict[str, list[dict[str, object]]] = {s: [] for s in settings}
    try:
        for rnd in range(a.rounds):
            order = settings[rnd % len(settings) :] + settings[: rnd % len(settings)]
            for setting in order:
                runs[setting].append(one_run(setting, a.pairs))
                OUT.write_text(json.dumps({"runs": runs}, indent=1))
    finally:
        subprocess.run([SWAPLAB, "lab", "down"], capture_output=True, check=False)
    table = {s: summary(runs[s]) for s in settings}
    OUT.write_text(json.dumps({"rounds": a.rounds, "pairs_per_run": a.pairs, "summary": table, "runs": runs,
                               "wall_s": round(time.monotonic() - t0)}, indent=1))  # fmt: skip
    print_table(table)
    return 0


def print_table(table: dict[str, dict[str, object]]) -> None:
    print(f"{'setting':<15} {'pairs':>5} {'ratio':>6} {'CV':>6} {'NFS s':>7} {'CV':>6} {'NBD s':>7} {'CV':>6} "
          f"{'wall s':>7}")  # fmt: skip
    for s, row in table.items():

        def f(k: str, row: dict[str, object] = row) -> str:
            return "-" if row[k] is None else f"{row[k]:.3g}"

        print(f"{s:<15} {row['pairs']:>5} {f('ratio_mean'):>6} {f('ratio_cv'):>6} {f('nfs_mean_s'):>7} "
              f"{f('nfs_cv'):>6} {f('nbd_mean_s'):>7} {f('nbd_cv'):>6} {row['wall_s']:>7}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
