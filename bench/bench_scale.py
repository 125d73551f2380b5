#!/usr/bin/env python3
"""The controller at rack scale: the real `swaplab` against a simulated rack (``swaplab.sim``) of N blades.

For each N (``--blades 1,10,50,100``) it brings a simulated rack up, then measures:

- **power-on**: ``swaplab provision --playbook recover.yml`` (the real boot and swap plays: Ansible, ipmitool, the
  BMCs): when each BMC was told to power on (its chassis log), the spread from the first to the last,
  and the most blades in "PXE" (between power-on and sshd) at once;
- **the run**: ``swaplab run -i RACK --no-provision --suite hog,verdict`` with every console streaming
  (``--chatter`` lines a second per blade), sampled every second: the controller's process tree (the
  `swaplab run` process and everything below it) for PSS (``smaps_rollup``) and CPU; start to the first
  load on every blade (the blades' own load stamps); journal bytes per blade;
- **console latency**: during the loads, a kernel line is printed on every console at once every
  ``--probe-every`` seconds; the latency is when the live console watch saw it (its ``watch.json``) minus
  when the blade printed it;
- **IPMI sessions**: every few seconds a few BMCs are asked for their active sessions (``session info
  active``, less the asking session itself); after the run, every BMC, for sessions left open;
- ``--storm``: at N blades, every blade hangs at once during its first load (``--hang-budget 30``): the most
  recoveries (recover.yml playbooks) at once and the controller's peak PSS; ``--nas-freeze``: the NAS stops
  for longer than the hang budget: the NAS incidents in results.json and the power-cycles done (none wanted).

Run as root, with nothing else running (`make scale`); it re-runs itself in a network namespace that has
only loopback. Prints a table and, with ``--json``, writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swaplab.lab.bmc import PASSWORD_ENV  # noqa: E402
from swaplab.sim import scenario  # noqa: E402

# The table bench/README.md shows: (key, heading).
COLUMNS = (
    ("blades", "blades"), ("scenario", "scenario"), ("run_rc", "exit"), ("pss_per_blade_mib", "PSS/blade MiB (loads)"),
    ("pss_peak_mib", "PSS peak MiB"), ("cpu_loads_pct_per_blade", "CPU %/blade (loads)"),
    ("cpu_pct_per_blade", "CPU %/blade (whole run)"), ("start_to_first_load_s", "start to first load, s"),
    ("power_on_first_s", "first power-on, s"), ("power_on_spread_s", "power-ons spread, s"),
    ("most_in_pxe", "most in PXE"), ("ipmi_sessions_most", "IPMI sessions most"),
    ("ipmi_sessions_left_open", "IPMI left open"), ("latency_p95_s", "latency p95, s"),
    ("latency_max_s", "latency max, s"),
    ("journal_bytes_per_blade", "journal B/blade"), ("recoveries_at_once", "recoveries at once"),
    ("nas_incidents", "NAS incidents"), ("power_cycles_during_run", "power-cycles in run"),
)  # fmt: skip


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blades", default="1,10,50,100", help="comma-separated rack sizes")
    ap.add_argument("--trial", type=float, default=30.0, help="seconds a simulated hog trial takes")
    ap.add_argument("--trials", type=int, default=3, help="NFS/NBD pairs per blade (at least, with --precision)")
    ap.add_argument(
        "--precision",
        type=float,
        default=10.0,
        help="as `swaplab run --precision` (0: off); on, "
        "every blade's suites collect up to --max-trials pairs, as a default run's do",
    )
    ap.add_argument("--max-recoveries", type=int, default=8, help="with --storm: `swaplab run --max-recoveries`")
    ap.add_argument("--boot", type=float, default=5.0, help="seconds from power-on to sshd")
    ap.add_argument("--chatter", type=float, default=2.0, help="console lines a second per blade")
    ap.add_argument("--probe-every", type=float, default=10.0)
    ap.add_argument("--storm", type=int, default=0, metavar="N", help="also: N blades hang at once")
    ap.add_argument("--nas-freeze", type=int, default=0, metavar="N", help="also: the NAS of N blades freezes")
    ap.add_argument("--freeze", type=float, default=60.0, help="seconds the NAS stays frozen")
    ap.add_argument("--release", default="", help="the kernel release (default: the stock kernel's)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_scale: run as root", file=sys.stderr)
        return 2
    if not scenario.only_loopback():
        # This benchmark again, in a network namespace of its own.
        argv = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable, *sys.argv]
        os.execvp("unshare", argv)  # noqa: S606
    os.environ[PASSWORD_ENV] = scenario.PASSWORD
    if not args.release:
        from swaplab.kernel.under_test import resolve

        args.release = resolve(None, print).release
    settings = scenario.Settings(**{f.name: getattr(args, f.name) for f in fields(scenario.Settings)
                                    if hasattr(args, f.name)})  # fmt: skip
    plan = [(int(n), "loads") for n in args.blades.split(",") if n]
    plan += [(args.storm, "hang")] if args.storm else []
    plan += [(args.nas_freeze, "nas-freeze")] if args.nas_freeze else []
    rows = []
    for n, what in plan:
        rows.append(scenario.measure(n, settings, "" if what == "loads" else what))
        print(json.dumps(rows[-1]), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
