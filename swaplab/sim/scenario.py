"""A simulated rack's scenarios, measured: what `bench/bench_scale.py` tabulates and the integration test asserts.

``measure(n, settings, scenario)`` brings a rack of ``n`` simulated blades up (``swaplab.sim.rack``), boots it
with the real plays (``swaplab provision --playbook recover.yml``: the boot play through the BMCs, then the
swap play), runs the real ``swaplab run -i RACK --no-provision --suite hog,verdict`` while it watches the
controller, and brings the rack down. Scenarios: ``loads`` (every console streaming, a kernel line printed on
every console every ``probe_every`` seconds for the latency), ``hang`` (every blade hangs at once during its
first load) and ``nas-freeze`` (the NAS stops for ``freeze`` seconds during the first loads).

What is watched, every second: the controller (the `swaplab run` process, everything below it, and the ssh
masters it or Ansible left in the background) for PSS (``smaps_rollup``) and CPU, and the recovery playbooks
running; every few seconds a few BMCs are asked for their active sessions; after the run, every BMC. From
the rack: when each BMC was told to power on (its chassis log), the most blades in PXE at once (the rack
daemon's boot log), when each blade's first load started (its own stamps). From the run directory: the
journal's size, the live watch's arrival times (``watch.json``), the cases, the NAS incidents.

Run as root in a network namespace that has only loopback, with ``SWAPLAB_BMC_PASSWORD`` set to ``PASSWORD``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swaplab import proctree
from swaplab.lab.bmc import PASSWORD_ENV
from swaplab.repo import HOME
from swaplab.sim import rack as sim
from swaplab.sim.provider import SimRack


@dataclass
class Settings:
    release: str  # the kernel release the blades report (the boot play checks it)
    trial: float = 30.0  # seconds a simulated hog trial takes
    trials: int = 3  # NFS/NBD pairs per blade (at least, with precision)
    precision: float = 10.0  # as `swaplab run --precision` (0: off)
    boot: float = 5.0  # seconds from power-on to sshd (the PXE phase)
    chatter: float = 2.0  # console lines a second per blade
    probe_every: float = 10.0  # seconds between latency probes
    max_recoveries: int = 8  # hang: `swaplab run --max-recoveries`
    freeze: float = 60.0  # nas-freeze: seconds the NAS stays frozen
    rack_dir: Path | None = None  # default .cache/sim/rack-N
    wave: int | None = None  # blade_boot__wave for the rack (None: the role's default)
    pxe_s: int | None = None  # blade_boot__pxe_s for the rack (None: the role's default)


SWAPLAB = [sys.executable, "-m", "swaplab"]
PASSWORD = "sim-" + os.urandom(6).hex()  # the bench's BMC password (the integration tests bring their own)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE = "Adding 655356k swap on /sim/probe-{seq}.  Priority:-9 extents:1 across:655356k FS"


def only_loopback() -> bool:
    """Is this network namespace loopback only (the simulated rack's addresses reach nothing else)?"""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()
    return all(": lo:" in line for line in links)


def tree(pid: int) -> list[int]:
    return [pid, *(p for p, _ in proctree.descendants(pid))]


def proctree_parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cpu_ticks(pid: int, reaped: bool = False) -> int:
    """``pid``'s CPU time in clock ticks (user and system); ``reaped``: with that of the children it has waited
    for (cutime, cstime), where an exited process's time goes when its parent reaps it. 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11 : 15 if reaped else 13])
    except (OSError, ValueError, IndexError):
        return 0


def tree_ticks(pids: list[int]) -> int:
    """The CPU a process tree has used, in ticks: each live process's own and its reaped children's. A process
    that exits moves its time into its parent's reaped share, so the sum only grows while the tree's root
    lives (an orphan's time, reaped by init, is lost: never counted twice, never negative)."""
    return sum(cpu_ticks(p, reaped=True) for p in pids)


def window_cpu_s(samples: list[dict[str, float]]) -> float:
    """CPU seconds between the first and the last of ``samples`` (each with its cumulative ``tree_ticks`` and
    its ``orphan_cpu_s``: the detached ssh masters' own deltas); never negative."""
    if len(samples) < 2:
        return 0.0
    tree = max(0.0, (samples[-1]["tree_ticks"] - samples[0]["tree_ticks"]) / CLK_TCK)
    return tree + sum(s["orphan_cpu_s"] for s in samples[1:])


class Sampler(threading.Thread):
    """Every second: the controller tree's PSS and CPU (``tree_ticks``: its live processes' and the children
    they reaped; the detached ssh masters' own), the number of recovery playbooks running."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop_ = threading.Event()
        self.samples: list[dict[str, float]] = []
        self._ticks: dict[int, int] = {}

    def controller(self) -> tuple[list[int], list[int]]:
        """The run's tree, and the ssh masters it (and Ansible) left in the background: ControlPersist
        detaches them from the tree (orphans, reaped by init), but they are the controller's."""
        pids = tree(self.pid)
        orphans = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) not in pids:
                try:
                    cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(b"ssh") and (b"swaplab-ssh-" in cmd or b".ansible/cp" in cmd):
                    orphans.append(int(entry.name))
        return pids, orphans

    def run(self) -> None:
        while not self.stop_.is_set():
            in_tree, orphans = self.controller()
            pids = in_tree + orphans
            pss = sum(pss_kib(p) for p in pids)
            delta = 0  # the orphans' own ticks since the last sample (one that exits loses its last second)
            for p in orphans:
                t = cpu_ticks(p)
                delta += max(0, t - self._ticks[p]) if p in self._ticks else 0
                self._ticks[p] = t
            ticks = tree_ticks(in_tree)
            playbooks = set()
            for p in pids:
                try:
                    cmd = Path(f"/proc/{p}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"ansible-playbook" in cmd and b"recover.yml" in cmd:
                    playbooks.add(p)
            # One recovery is one ansible-playbook and its forks (same command line): count the top ones.
            recoveries = sum(1 for p in playbooks if (proctree_parent(p) not in playbooks))
            self.samples.append({"t": time.time(), "pss_kib": pss, "procs": len(pids), "tree_ticks": ticks,
                                 "orphan_cpu_s": delta / CLK_TCK, "recoveries": recoveries})  # fmt: skip
            self.stop_.wait(1.0)


def ipmi_sessions(bmc: str) -> int | None:
    """Active sessions on a BMC, less the asking one; None if it did not answer."""
    r = subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", bmc, "-U", "admin", "-E", "-N", "2", "-R", "1",
                        "session", "info", "active"], capture_output=True, text=True, timeout=20,
                       env={**os.environ, "IPMI_PASSWORD": os.environ.get(PASSWORD_ENV, "")})  # fmt: skip
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
            with contextlib.suppress(OSError, ValueError, IndexError):
                stamps.append(float(f.read_text().split()[0]))
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
    runs = sorted(p for p in (HOME / "reports").iterdir() if p.is_dir() and p.name not in before)
    return runs[-1] if runs else None


def _say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def measure(n: int, args: Settings, storm: str = "", tell: Callable[[str], None] = _say) -> dict[str, Any]:
    """One scenario on a rack of ``n`` simulated blades: its figures (see the module's doc). ``tell`` is told each
    phase as it starts, and the run's progress every 30 s."""

    def say(text: str) -> None:
        tell(f"[{n} blades, {storm or 'loads'}] {text}")

    rack_dir = args.rack_dir or HOME / ".cache" / "sim" / f"rack-{n}"
    if rack_dir.exists():
        sim.down(rack_dir)
    names = sim.rack_names(n)
    release = args.release
    t = time.time()
    boot_vars: dict[str, float | int] = {
        k: v for k, v in (("blade_boot__wave", args.wave), ("blade_boot__pxe_s", args.pxe_s)) if v is not None
    }
    say("bringing the rack up")
    provider = SimRack(rack_dir, names, release, args.boot, args.trial, boot_vars)
    inv = provider.up(say)
    out: dict[str, Any] = {"blades": n, "scenario": storm or "loads", "rack_up_s": round(time.time() - t, 1)}
    try:
        say(f"rack up in {out['rack_up_s']} s; booting the blades (the boot and swap plays)")
        t0 = time.time()
        # The blades' bring-up as a hung blade's recovery does it: the boot play, then the swap play.
        r = subprocess.run([*SWAPLAB, "provision", "-i", str(inv), "--playbook", "recover.yml"], capture_output=True,
                           text=True, timeout=1800, cwd=HOME)  # fmt: skip
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
        before = {p.name for p in (HOME / "reports").iterdir()} if (HOME / "reports").is_dir() else set()
        # No warm-up: a simulated blade's hog has no first trial after a boot to pay for (its times are drawn).
        cmd = [*SWAPLAB, "run", "-i", str(inv), "--no-provision", "--suite", "hog,verdict", "--no-warm-up",
               "--trials", str(args.trials), *(["--precision", "0"] if args.precision == 0 else [])]  # fmt: skip
        if storm:
            cmd += ["--hang-budget", "30", "--max-recoveries", str(args.max_recoveries)]
        boot0 = time.clock_gettime(time.CLOCK_BOOTTIME)
        t0 = time.time()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        run_log = open(rack_dir / "run.log", "w")  # noqa: SIM115 - closed below
        say(f"booted in {out['boot_play_s']} s; swaplab run started")
        proc = subprocess.Popen(cmd, stdout=run_log, stderr=subprocess.STDOUT, cwd=HOME)
        sampler = Sampler(proc.pid)
        sampler.start()
        probe = SessionProbe([sim.SimBlade(nm, i).bmc for i, nm in enumerate(names, 1)])
        probe.start()
        sent: dict[str, float] = {}
        seq = 0
        storm_at = None
        thaw: threading.Timer | None = None
        told = time.time()
        while proc.poll() is None:
            time.sleep(1)
            started = first_loads(rack_dir, names)
            if time.time() - told >= 30:
                told = time.time()
                say(f"run: {time.time() - t0:.0f} s, {len(started)} of {n} blades have started their loads")
            if len(started) < n:
                continue
            if storm and storm_at is None:
                storm_at = time.time()
                sim.ask(rack_dir, "hang all" if storm == "hang" else "freeze-nas")
                if storm == "nas-freeze":
                    thaw = threading.Timer(args.freeze, lambda: sim.ask(rack_dir, "thaw-nas"))
                    thaw.start()
            elif not storm and (not sent or time.time() - max(sent.values()) >= args.probe_every):
                seq += 1
                answer = sim.ask(rack_dir, "say all " + PROBE.format(seq=seq))
                sent[f"/sim/probe-{seq}."] = float(answer.split()[1])
        rc = proc.wait()
        run_log.close()
        say(f"run ended (exit {rc}) after {time.time() - t0:.0f} s; bringing the rack down")
        if thaw is not None and thaw.is_alive():
            thaw.cancel()
            sim.ask(rack_dir, "thaw-nas")
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
            window = max(1.0, during[-1]["t"] - during[0]["t"])
            out["cpu_loads_s"] = round(window_cpu_s(during), 1)
            out["cpu_loads_pct_per_blade"] = round(100 * window_cpu_s(during) / window / n, 2)
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
            expected = 0
            for w in run_dir.glob("*/loads/*/watch.json"):
                watch = json.loads(w.read_text())
                # A probe counts where the blade's console was watched from its sending to a second later.
                expected += sum(1 for at in sent.values() if watch["started"] <= at
                                and at + 1 <= (watch.get("stopped_at") or 0))  # fmt: skip
                for a in watch.get("arrivals", []):
                    for key, at in sent.items():
                        if key in a["text"]:
                            lat.append(a["at"] - at)
            lat.sort()
            out["latency_probes"] = len(lat)
            out["latency_expected"] = expected
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
        for not_stopped in provider.down(say):
            say(f"not stopped: {not_stopped}")
    return out
