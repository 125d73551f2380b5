#!/usr/bin/env python3
"""The controller at rack scale: the real `swaplab` against a simulated rack (``swaplab.sim``) of N blades.

For each N (``--blades 1,10,50,100``) it brings a simulated rack up, then measures:

- **power-on**: ``swaplab provision --playbook boot.yml`` (the real boot play: Ansible, ipmitool, the
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
import random
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swaplab import proctree  # noqa: E402
from swaplab.sim import rack as sim  # noqa: E402

SWAPLAB = [sys.executable, "-m", "swaplab"]
PASSWORD = "sim-" + os.urandom(6).hex()
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE = "Adding 655356k swap on /sim/probe-{seq}.  Priority:-9 extents:1 across:655356k FS"


def only_loopback() -> bool:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()
    return all(": lo:" in line for line in links)


def tree(pid: int) -> list[int]:
    return [pid, *(p for p, _ in proctree.descendants(pid))]


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


class Sampler(threading.Thread):
    """Every second: the controller tree's PSS and CPU (live processes; reaped children are counted by
    ``getrusage`` at the end), the number of recovery playbooks running."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop_ = threading.Event()
        self.samples: list[dict[str, float]] = []
        self._ticks: dict[int, int] = {}

    def controller(self) -> list[int]:
        """The run's tree, and the ssh masters it (and Ansible) left in the background: ControlPersist
        detaches them from the tree, but they are the controller's."""
        pids = tree(self.pid)
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) not in pids:
                try:
                    cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(b"ssh") and (b"swaplab-ssh-" in cmd or b".ansible/cp" in cmd):
                    pids.append(int(entry.name))
        return pids

    def run(self) -> None:
        while not self.stop_.is_set():
            pids = self.controller()
            pss = sum(pss_kib(p) for p in pids)
            delta = 0
            for p in pids:
                t = cpu_ticks(p)
                delta += t - self._ticks.get(p, 0) if p in self._ticks else 0
                self._ticks[p] = t
            recoveries = 0
            for p in pids:
                try:
                    cmd = Path(f"/proc/{p}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"ansible-playbook" in cmd and b"recover.yml" in cmd:
                    recoveries += 1
            self.samples.append({"t": time.time(), "pss_kib": pss, "procs": len(pids), "cpu_s": delta / CLK_TCK,
                                 "recoveries": recoveries})  # fmt: skip
            self.stop_.wait(1.0)


def ipmi_sessions(bmc: str) -> int | None:
    """Active sessions on a BMC, less the asking one; None if it did not answer."""
    r = subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", bmc, "-U", "admin", "-E", "-N", "2", "-R", "1",
                        "session", "info", "active"], capture_output=True, text=True, timeout=20,
                       env={**os.environ, "IPMI_PASSWORD": PASSWORD})  # fmt: skip
    m = re.search(r"active sessions\s*:\s*(\d+)", r.stdout, re.I)
    return int(m.group(1)) - 1 if m else None


class SessionProbe(threading.Thread):
    def __init__(self, bmcs: list[str], per_round: int = 4, every_s: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.bmcs, self.per_round, self.every_s = bmcs, per_round, every_s
        self.stop_ = threading.Event()
        self.most = 0
        self.asked = 0

    def run(self) -> None:
        while not self.stop_.wait(self.every_s):
            for bmc in random.sample(self.bmcs, min(self.per_round, len(self.bmcs))):
                n = ipmi_sessions(bmc)
                self.asked += 1
                if n is not None:
                    self.most = max(self.most, n)


def first_loads(rack: Path, names: list[str]) -> dict[str, float]:
    """Each blade's first load start (CLOCK_BOOTTIME, the blades' uptime)."""
    out = {}
    for n in names:
        stamps = []
        for f in (rack / "blades" / n / "agent" / "loads").glob("*/t_start"):
            try:
                stamps.append(float(f.read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        if stamps:
            out[n] = min(stamps)
    return out


def power_ons(rack: Path) -> list[float]:
    times = []
    for log in (rack / "bmc").glob("*/chassis.log"):
        for line in log.read_text().splitlines():
            w = line.split()
            if len(w) >= 4 and w[1:4] in (["set", "power", "1"], ["set", "reset", "1"]):
                times.append(float(w[0]))
    return sorted(times)


def latest_run(before: set[str]) -> Path | None:
    runs = sorted(p for p in (ROOT / "reports").iterdir() if p.is_dir() and p.name not in before)
    return runs[-1] if runs else None


def measure(n: int, args: argparse.Namespace, storm: str = "") -> dict[str, Any]:
    rack_dir = Path(f"/tmp/swaplab-scale-{n}")
    if rack_dir.exists():
        sim.down(rack_dir)
    names = sim.rack_names(n)
    release = args.release
    t = time.time()
    inv = sim.up(rack_dir, names, release, boot_s=args.boot, trial_s=args.trial)
    out: dict[str, Any] = {"blades": n, "scenario": storm or "loads", "rack_up_s": round(time.time() - t, 1)}
    try:
        t0 = time.time()
        r = subprocess.run([*SWAPLAB, "provision", "-i", str(inv), "--playbook", "boot.yml"], capture_output=True,
                           text=True, timeout=1800, cwd=ROOT)  # fmt: skip
        out["boot_play_s"] = round(time.time() - t0, 1)
        out["boot_play_rc"] = r.returncode
        if r.returncode != 0:
            out["boot_play_tail"] = r.stdout[-2000:] + r.stderr[-2000:]
            return out
        ons = power_ons(rack_dir)
        out["power_ons"] = len(ons)
        out["power_on_first_s"] = round(ons[0] - t0, 1) if ons else None
        out["power_on_spread_s"] = round(ons[-1] - ons[0], 1) if ons else None
        peaks = [int(line.split()[3]) for line in (rack_dir / "boots.log").read_text().splitlines()]
        out["most_in_pxe"] = max(peaks, default=0)
        (rack_dir / "boots.log").unlink()
        for log in (rack_dir / "bmc").glob("*/chassis.log"):
            log.unlink()
        sim.ask(rack_dir, f"chatter {args.chatter}")
        before = {p.name for p in (ROOT / "reports").iterdir()} if (ROOT / "reports").is_dir() else set()
        cmd = [*SWAPLAB, "run", "-i", str(inv), "--no-provision", "--suite", "hog,verdict", "--trials",
               str(args.trials), "--precision", "0"]  # fmt: skip
        if storm:
            cmd += ["--hang-budget", "30"]
        boot0 = time.clock_gettime(time.CLOCK_BOOTTIME)
        t0 = time.time()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        log = open(rack_dir / "run.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        sampler = Sampler(proc.pid)
        sampler.start()
        probe = SessionProbe([sim.SimBlade(nm, i).bmc for i, nm in enumerate(names, 1)])
        probe.start()
        sent: dict[str, float] = {}
        seq = 0
        storm_at = None
        while proc.poll() is None:
            time.sleep(1)
            started = first_loads(rack_dir, names)
            if len(started) < n:
                continue
            if storm and storm_at is None:
                storm_at = time.time()
                sim.ask(rack_dir, "hang all" if storm == "hang" else "freeze-nas")
                if storm == "nas-freeze":
                    threading.Timer(args.freeze, lambda: sim.ask(rack_dir, "thaw-nas")).start()
            elif not storm and (not sent or time.time() - max(sent.values()) >= args.probe_every):
                seq += 1
                answer = sim.ask(rack_dir, "say all " + PROBE.format(seq=seq))
                sent[f"/sim/probe-{seq}."] = float(answer.split()[1])
        rc = proc.wait()
        log.close()
        wall = time.time() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler.stop_.set()
        probe.stop_.set()
        sampler.join()
        probe.join()
        run_dir = latest_run(before)
        out["run_rc"] = rc
        out["run_dir"] = str(run_dir)
        out["run_s"] = round(wall, 1)
        cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        out["cpu_s"] = round(cpu, 1)
        out["cpu_pct_per_blade"] = round(100 * cpu / wall / n, 2)
        starts = first_loads(rack_dir, names)
        if len(starts) == n:
            out["start_to_first_load_s"] = round(max(starts.values()) - boot0, 1)
            out["start_to_any_load_s"] = round(min(starts.values()) - boot0, 1)
        loads_from = min(starts.values()) - boot0 + t0 if starts else t0
        during = [s for s in sampler.samples if s["t"] >= loads_from]
        if during:
            pss = [s["pss_kib"] for s in during]
            out["pss_mean_mib"] = round(sum(pss) / len(pss) / 1024, 1)
            out["pss_per_blade_mib"] = round(sum(pss) / len(pss) / 1024 / n, 1)
            out["cpu_loads_pct_per_blade"] = round(100 * sum(s["cpu_s"] for s in during)
                                                   / max(1.0, during[-1]["t"] - during[0]["t"]) / n, 2)  # fmt: skip
        out["pss_peak_mib"] = round(max((s["pss_kib"] for s in sampler.samples), default=0) / 1024, 1)
        out["procs_peak"] = max((s["procs"] for s in sampler.samples), default=0)
        out["recoveries_at_once"] = max((s["recoveries"] for s in sampler.samples), default=0)
        out["ipmi_sessions_most"] = probe.most
        out["ipmi_session_probes"] = probe.asked
        left = [ipmi_sessions(sim.SimBlade(nm, i).bmc) for i, nm in enumerate(names, 1)]
        out["ipmi_sessions_left_open"] = sum(x for x in left if x)
        out["ipmi_bmcs_not_answering"] = sum(1 for x in left if x is None)
        if run_dir is not None:
            out["journal_bytes_per_blade"] = round((run_dir / "journal.jsonl").stat().st_size / n)
            lat = []
            for w in run_dir.glob("*/loads/*/watch.json"):
                for a in json.loads(w.read_text()).get("arrivals", []):
                    for key, at in sent.items():
                        if key in a["text"]:
                            lat.append(a["at"] - at)
            lat.sort()
            out["latency_probes"] = len(lat)
            out["latency_expected"] = len(sent) * n
            if lat:
                out["latency_p50_s"] = round(lat[len(lat) // 2], 2)
                out["latency_p95_s"] = round(lat[int(len(lat) * 0.95) - 1 if len(lat) > 1 else 0], 2)
                out["latency_max_s"] = round(lat[-1], 2)
            results = json.loads((run_dir / "results.json").read_text())
            out["nas_incidents"] = len(results.get("options", {}).get("nas_incidents") or [])
            verdicts: dict[str, int] = {}
            for b in results.get("blades", []):
                for c in b.get("cases", []):
                    verdicts[c.get("outcome", "?")] = verdicts.get(c.get("outcome", "?"), 0) + 1
            out["cases"] = verdicts
        out["power_cycles_during_run"] = len(power_ons(rack_dir))
    finally:
        sim.down(rack_dir)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blades", default="1,10,50,100", help="comma-separated rack sizes")
    ap.add_argument("--trial", type=float, default=30.0, help="seconds a simulated hog trial takes")
    ap.add_argument("--trials", type=int, default=1, help="NFS/NBD pairs per blade")
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
    if not only_loopback():
        os.execvp("unshare", ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                              sys.executable, *sys.argv])  # fmt: skip
    os.environ[sim.vbmc.PASSWORD_ENV] = PASSWORD
    if not args.release:
        from swaplab.provision import kernel_vars, stock_kernel_deb

        args.release = kernel_vars(str(stock_kernel_deb(print)))["release"]
    rows = [measure(int(n), args) for n in args.blades.split(",")]
    if args.storm:
        rows.append(measure(args.storm, args, "hang"))
    if args.nas_freeze:
        rows.append(measure(args.nas_freeze, args, "nas-freeze"))
    for row in rows:
        print(json.dumps(row))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
