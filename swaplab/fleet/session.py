"""One run's view of the fleet: its settings, and per blade a session that runs loads and judges them.

The suites in ``tests/fleet/`` stay thin: they ask a ``BladeSession`` to run a
load and assert on the ``LoadReport`` it returns. Kernel trouble is a test
failure; a blade that cannot be reached, or a load that does not come back
within its budget with nothing in the kernel log to explain it, is an
``InfraError`` (JUnit ``<error>``), and every later test of that blade errors at
once instead of waiting again.
"""

from __future__ import annotations

import io
import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swaplab import slots
from swaplab.agent import PROGRAMS
from swaplab.detect import Finding, scan_stream
from swaplab.drivers import console_driver
from swaplab.drivers.protocols import ConsoleProtocol
from swaplab.fleet import nas_probe
from swaplab.fleet.judge import FAIL_KINDS, ExcuseKey, Outage, Verdict, excuse_key, in_window, judge
from swaplab.fleet.loads import AGENT_DIR, LoadOutcome, LoadRunner, SwapArea
from swaplab.fleet.remote import Remote, RemoteError
from swaplab.fleet.stats import paired_times
from swaplab.fleet.watch import ConsoleWatch
from swaplab.lab.faults import FaultSpec, FaultTimer, Injection, LabHandles
from swaplab.lab.hostload import STARVED_PCT, HostLoad
from swaplab.options import RunOptions, WorkingSet
from swaplab.records import Facts, FaultRecord, FindingRecord, HogTrial, LoadFigures, Recovery, from_json
from swaplab.rundir import NAS_PROBE, PROGRESS_LOG

if TYPE_CHECKING:
    import testinfra.host

CONTEXT_SCHEMA = 4  # 2: console {driver, path[, qmp_socket]}; 3: options: RunOptions; 4: prior


EMULATOR_STALL_KINDS = frozenset({"rcu_stall", "soft_lockup", "hard_lockup"})
SETTLE_S = 600.0  # a resumed run waits this long for a blade busy with a killed controller's load
EXCERPT_LINES = 6  # console lines kept each side of a finding
# How long a hung blade waits for a recovery slot (--max-recoveries) before it is quarantined instead:
# a whole rack queued behind K slots at ~3 min a recovery takes about this long.
RECOVERY_QUEUE_S = 3600.0
SYSRQ_ANSWER_S = 5.0  # how long the console is read after a sysrq for the kernel's answer


def kill_leftovers(agent_dir: str = AGENT_DIR) -> str:
    """A command that stops the loads a killed controller left running on the blade (no state file): their
    job's group, hog and helpers, each by the PID the job recorded, and only while that PID is still the
    job's (after a reboot it is some other process); then the swap areas such a job switched off are
    switched back on."""
    return (
        f'for d in {shlex.quote(agent_dir)}/loads/*/; do [ -f "$d/state" ] && continue; '
        'p=$(cat "$d/pid" 2>/dev/null); '
        '[ -n "$p" ] && grep -q job.sh "/proc/$p/cmdline" 2>/dev/null && kill -KILL -"$p" 2>/dev/null; '
        'for q in $(cat "$d/detached.pids" "$d/hog.pid" 2>/dev/null); do '
        'grep -qE "fio|sampler.py|hog.py" "/proc/$q/cmdline" 2>/dev/null && kill -KILL "$q" 2>/dev/null; done; '
        # The job had switched off the swap areas its load did not use, and died before it restored them:
        # back on, each with the priority it had (the job kept /proc/swaps from before it touched them).
        '[ -f "$d/swaps.before" ] && tail -n +2 "$d/swaps.before" | while read -r a t s u prio; do '
        'grep -q "^$a " /proc/swaps || swapon -p "$prio" "$a"; done; '
        "done; true"
    )


class InfraError(Exception):
    """swaplab could not test this blade (unreachable, no answer within budget): a JUnit <error>."""


@dataclass
class Settings:
    """What a run does; written by ``swaplab run`` into the run directory for the suites.

    ``options`` is the run's own ``RunOptions`` (trials, working set, gate, fio sizes): the suites read
    them there, never a copy."""

    run_dir: str
    inventory: str
    ssh_config: str
    control_dir: str
    blades: dict[str, dict[str, Any]]  # name -> {"console": {driver, path[, qmp_socket]} | None}
    kernel: dict[str, Any] = field(default_factory=dict)
    options: RunOptions = field(default_factory=RunOptions)
    # A resumed run: per blade, the records of cases that finished before (hog trials, first-contact facts).
    prior: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nas: str = ""  # the NAS's host name in ssh_config (the fault scenarios that act on it)
    resumed: bool = False  # `run --resume`: the blades may still run the interrupted run's loads
    virtual: bool = False  # the blades are the virtual lab's QEMU machines (their emulator's stalls are judged)
    # The blade-side budget of a hog: fixed part + seconds per MiB of working set.
    budget_base_s: int = 180
    budget_s_per_mib: float = 2.5
    schema: int = CONTEXT_SCHEMA

    def save(self, path: Path) -> None:
        data = {**self.__dict__, "options": self.options.to_json()}
        path.write_text(json.dumps(data, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = json.loads(path.read_text())
        if data.get("schema") != CONTEXT_SCHEMA:
            raise ValueError(f"{path}: context schema {data.get('schema')} is not {CONTEXT_SCHEMA}")
        return cls(**{**data, "options": RunOptions.from_json(data.get("options", {}))})


@dataclass
class LoadReport:
    outcome: LoadOutcome
    verdict: Verdict
    attachments: list[str]
    findings: list[FindingRecord] = field(default_factory=list)  # what the detectors saw, with when
    recovery: Recovery | None = None  # the console watch ended the load, and the blade was recovered (or not)
    fault: FaultRecord | None = None  # the fault `run --fault` injected into this load
    # The NAS did not answer during this load (the prober's incident, in words): a finished load's time then
    # measures the NAS, not the kernel ("" if it answered throughout).
    nas_outage: str = ""
    host_cpu_pressure_pct: float | None = None  # virtual blades: the host's CPU pressure during the load
    emulator_cpu_s: float | None = None  # and the blade QEMU's CPU time

    def figures(self, store: str | None) -> LoadFigures:
        o, v = self.outcome, self.verdict
        phases = o.phases()
        return LoadFigures(load=o.load_id, store=store, status=o.status, rc=o.rc, wall_s=round(o.seconds, 1),
                           prep_s=phases.get("prep_s"), load_s=phases.get("load_s"), nfs_outage_s=v.nfs_outage_s,
                           warnings=tuple(v.warnings), host_cpu_pressure_pct=self.host_cpu_pressure_pct,
                           emulator_cpu_s=self.emulator_cpu_s)  # fmt: skip

    def json_file(self, name: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.outcome.files[name])
            return data
        except (KeyError, ValueError):
            return None


class BladeSession:
    def __init__(
        self, name: str, settings: Settings, remote: Remote | None = None, console: ConsoleProtocol | None = None
    ) -> None:
        """``remote`` and ``console`` default to what ``settings`` names (ssh, the console driver); unit
        tests give fakes that speak the same protocols."""
        self.name = name
        self.settings = settings
        self.dir = Path(settings.run_dir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.remote = remote or Remote(name, Path(settings.ssh_config), Path(settings.control_dir))
        self.runner = LoadRunner(self.remote, self.dir / "loads", self.progress)
        self.console = console or console_driver(settings.blades[name].get("console"))
        self.console_start = self._console_size()
        self.down: str | None = None
        self.quarantined = ""  # why this blade's later cases are skipped (recovery failed, too many hangs)
        self.hangs = 0
        self.start: dict[str, Any] = {}
        self._hog_pids: set[int] = set()
        self._areas: list[SwapArea] | None = None
        self._agent = False
        self._host: testinfra.host.Host | None = None
        prior = [from_json(r) for r in settings.prior.get(name, [])]
        # Hung-task reports put down to a NAS outage (a resumed run's health check reads the same log again).
        self._outage_excused: set[ExcuseKey] = {
            (r.kind, r.text, r.kernel_time_s) for r in prior if isinstance(r, FindingRecord)
            and r.kind == "hung_task" and r.severity == "warn" and r.kernel_time_s is not None
        }  # fmt: skip
        self.hog_trials: list[HogTrial] = [r for r in prior if isinstance(r, HogTrial) and r.status == "done"
                                           and r.trial is not None]  # finished hog trials, for the ratio  # fmt: skip
        self.trials_elapsed_s = 0.0  # this run's hog trials' time, for --trials-budget
        self.voided: list[str] = []  # hog trials left out of the ratio: the NAS was out during them
        self.trials_stop = ""  # why no further pair of hog trials starts (set once a pair is not wanted)
        self._pairs: dict[int, str] = {}
        for facts in (r for r in prior if isinstance(r, Facts) and "release" in r.values):
            self.start = dict(facts.values)  # the first contact of the interrupted run

    def paired_times(self) -> tuple[list[float], list[float]]:
        """The NFS and NBD times of the complete pairs of hog trials so far."""
        return paired_times([(t.trial, t.store, t.total_s) for t in self.hog_trials
                             if t.trial is not None and t.total_s is not None])  # fmt: skip

    def pair_wanted(self, trial: int) -> str:
        """'' if pair ``trial`` of hog trials runs, else why not (``TrialPlan.stop_reason``). Decided once per
        pair, at its first trial; once a pair is not wanted, none after it is."""
        if trial not in self._pairs:
            reason = self.trials_stop
            if not reason:
                nfs, nbd = self.paired_times()
                plan = self.settings.options.trial_plan()
                reason = plan.stop_reason(nfs, nbd, trial - 1, self.trials_elapsed_s) or ""
                if reason:
                    self.trials_stop = reason
                    self.progress(f"hog trials: {trial - 1} pair(s), no more ({reason})")
            self._pairs[trial] = reason
        return self._pairs[trial]

    def pairs_started(self) -> int:
        """How many pairs of hog trials have been started (this run's, and a resumed run's finished ones)."""
        return max([t for t, why in self._pairs.items() if not why] + [t.trial or 0 for t in self.hog_trials],
                   default=0)  # fmt: skip

    def progress(self, message: str) -> None:
        """A progress line for the terminal: appended to the run's progress log, which `swaplab run` follows
        (the suites run in pytest, in xdist workers when there are several blades: their output is captured)."""
        line = " ".join(f"{self.name}: {message}".split())  # one line, no control characters
        with (Path(self.settings.run_dir) / PROGRESS_LOG).open("a") as f:
            f.write(line + "\n")

    # -- reachability ------------------------------------------------------
    def check_up(self) -> None:
        if self.down:
            raise InfraError(f"{self.name} is down since {self.down}")

    def sh(self, command: str, timeout: float = 60, stdin: bytes | None = None) -> str:
        """Run a short command; its stdout. Unreachable or non-zero exit is an InfraError."""
        self.check_up()
        try:
            r = self.remote.run(command, timeout, stdin)
        except RemoteError as e:
            # No load runs while these short commands do: a blade that does not answer is down.
            self.down = f"`{command[:60]}` got no answer ({e})"
            raise InfraError(str(e)) from e
        if r.rc != 0:
            raise InfraError(f"{self.name}: `{command}` exited {r.rc}: {(r.stderr or r.stdout).strip()[-400:]}")
        return r.stdout

    def host(self) -> testinfra.host.Host:
        """testinfra's view of the blade, over the same ssh master, every command time-limited."""
        self.check_up()
        if self._host is None:
            self._host = self.remote.testinfra(timeout=60)
        return self._host

    @staticmethod
    def q(value: str) -> str:
        return shlex.quote(value)

    def counters(self) -> dict[str, int]:
        out = self.sh(
            "grep -E '^(oom_kill|pgscan_direct_throttle|pswpin|pswpout) ' /proc/vmstat; "
            "echo tainted $(cat /proc/sys/kernel/tainted)"
        )
        return {k: int(v) for k, v in (line.split() for line in out.splitlines() if line.strip())}

    def baseline(self) -> dict[str, Any]:
        """What the blade looks like at first contact (kept for the health suite)."""
        if not self.start:
            self.start = {"release": self.sh("uname -r").strip(), **self.counters()}
        return self.start

    # -- swap areas ------------------------------------------------------------
    def swap_areas(self) -> list[SwapArea]:
        """The active swap areas, told apart by what backs them (NFS file or NBD device)."""
        if self._areas is None:
            out = self.sh(
                "tail -n +2 /proc/swaps | while read -r p t s u prio; do "
                'fs=$(stat -f -c %T "$p" 2>/dev/null); echo "$p $prio $fs"; done'
            )
            areas = []
            for line in out.splitlines():
                path, prio, fs = ([*line.split(), "", "", ""])[:3]
                kind = "nbd" if path.startswith("/dev/nbd") else "nfs" if fs == "nfs" else "other"
                areas.append(SwapArea(path, int(prio), kind))
            self._areas = areas
        return self._areas

    def area(self, kind: str) -> SwapArea:
        found = [a for a in self.swap_areas() if a.kind == kind]
        if not found:
            raise InfraError(f"{self.name}: no active {kind.upper()} swap area (was `swaplab provision` run?)")
        return found[0]

    # -- loads -----------------------------------------------------------------
    def settle(self, budget_s: float = SETTLE_S) -> None:
        """A resumed run's first contact: stop the loads the killed controller left running (they keep the
        blade too busy to answer ssh), retrying within ``budget_s``; then the blade is down if still silent."""
        deadline = time.monotonic() + budget_s
        last = ""
        while time.monotonic() < deadline:
            try:
                self.remote.run(kill_leftovers(), timeout=60)
                return
            except RemoteError as e:
                last = str(e)
                time.sleep(5)
        self.down = f"a resumed run's first contact (no answer within {budget_s:.0f} s: {last})"

    def ship_agent(self) -> None:
        """The programs loads run on the blade (the hog, the sampler), each written whole or not at all."""
        if self._agent:
            return
        self.sh(kill_leftovers(), timeout=30)
        for program in PROGRAMS:
            dest = f"{AGENT_DIR}/{program.name}"
            self.sh(f"mkdir -p {AGENT_DIR} && cat > {dest}.tmp && mv {dest}.tmp {dest}", stdin=program.read_bytes())
        self._agent = True

    def working_set_args(self, working_set: WorkingSet | None = None) -> tuple[str, float]:
        """hog.py's size argument, and the working set in MiB it will mean on this blade (for the budget)."""
        ws = working_set or self.settings.options.working_set
        mem_kib = int(self.sh("awk '/^MemTotal:/ {print $2}' /proc/meminfo").strip()) if ws.unit == "times_ram" else 0
        return ws.hog_argument(), ws.mib(mem_kib)

    def hog_command(self, size_arg: str, order: str = "reverse") -> str:
        return (
            f"echo $$ > hog.pid; exec python3 {AGENT_DIR}/hog.py {size_arg} --order {order} "
            "--out hog.json --progress progress.json"
        )

    def budget(self, mib: float) -> int:
        return int(self.settings.budget_base_s + self.settings.budget_s_per_mib * mib)

    def load(
        self, load_id: str, command: str, budget_s: int, use: str = "all", mkswap: list[str] | None = None,
        hog_oom_expected: bool = False,
    ) -> LoadReport:  # fmt: skip
        """Run one load with swap on ``use`` ("nfs", "nbd" or "all"); judge its console and kernel log."""
        self.baseline()  # first contact, if the config suite did not run (`--suite hog,verdict`)
        self.ship_agent()
        areas = self.swap_areas()
        targets = areas if use == "all" else [self.area(use)]
        console_from = self._console_size()
        watch = None
        if self.console is not None:
            watch = ConsoleWatch(self.console, console_from, f"{self.name}:console",
                                 hung_after_s=self.settings.options.hang_budget_s,
                                 nas_alive=self._nas_alive if self.settings.nas else None)  # fmt: skip
            watch.start()
        fault = self._fault_for(load_id)
        load_started = time.time()
        if fault is not None:
            fault.start()
        hostload = self._hostload()
        if hostload is not None:
            hostload.start()
        try:
            outcome = self.runner.run(load_id, command, budget_s, targets, areas, mkswap,
                                      abort=watch.abort if watch else None,
                                      ended=lambda: watch.status if watch else "ended")  # fmt: skip
        except RemoteError as e:
            self.down = f"{load_id} (could not start the load: {e})"
            raise InfraError(str(e)) from e
        finally:
            if watch is not None:
                watch.stop()
            if hostload is not None:
                hostload.stop()
            injection = fault.finish(timeout=fault.spec.duration_s + 60) if fault is not None else None
        console_text = self._console_slice(console_from, outcome.local_dir / "console.log")
        if watch is not None:
            outcome.local_dir.mkdir(parents=True, exist_ok=True)
            (outcome.local_dir / "watch.json").write_text(json.dumps(watch.to_json(), indent=1))
        findings = scan(console_text.encode(), f"{self.name}:console", "console")
        window = outcome.uptime_window()
        dmesg = outcome.files.get("dmesg.txt", b"")
        if dmesg and window:
            findings += in_window(scan(dmesg, f"{self.name}:dmesg", "dmesg"), window[0], window[1] + 1)
        hog_pids = {int(p) for p in outcome.text("hog.pid").split() if p.isdigit()}
        self._hog_pids |= hog_pids
        outages = self._outages_in_uptime(load_started, window)
        verdict = judge(findings, hog_pids, hog_oom_expected, outages, self._outage_excused)
        self._outage_excused.update(verdict.outage_excused)
        attachments = [str(p) for p in sorted(outcome.local_dir.glob("*")) if p.is_file()]
        start = window[0] if window else None
        excused = set(verdict.outage_excused)
        records = [finding_record(f, console_text, load_id, start, excuse_key(f) in excused) for f in findings]
        report = LoadReport(outcome, verdict, attachments, records)
        if hostload is not None:
            report.host_cpu_pressure_pct, report.emulator_cpu_s, _ = hostload.figures()
            self._emulator_stall(load_id, findings, watch, hostload, outcome.local_dir)
        if watch is not None and outcome.status in ("panic", "hung"):
            # The console watch ended the load: the blade died or hung under it. A kernel failure, with the
            # evidence; then the blade is recovered (or quarantined) and its later cases go on.
            if outcome.status == "hung" or not verdict.failures:
                verdict.failures.append(f"{outcome.status}: {watch.reason}")
            report.recovery = self.recover(load_id, outcome, watch)
            report.attachments += list(report.recovery.evidence)
        if fault is not None:
            report.fault = fault_record(fault.spec, injection, load_started, watch, report.recovery)
        if report.recovery is not None:
            return report
        if outcome.status != "done":
            tail = console_text[-1500:]
            if verdict.failures:
                self.down = f"{load_id} (kernel failure: {verdict.failures[0][:200]})"
            elif outage := self._nas_outage(load_started):
                self.down = f"{load_id} (the NAS {self.settings.nas} was out: {outage})"
                raise InfraError(
                    f"{self.name}: load {load_id} did not come back within its budget of {budget_s} s because the "
                    f"NAS {self.settings.nas} {outage}: one infrastructure incident, shared by every blade of this "
                    f"NAS, not this blade's failure (no power-cycle was done); console tail:\n{tail}"
                )
            else:
                self.down = f"{load_id} (no answer within {budget_s} s)"
                raise InfraError(
                    f"{self.name}: load {load_id} did not come back within its budget of {budget_s} s "
                    f"(+{int(outcome.seconds - budget_s)} s grace); last ssh error: {outcome.last_error or 'none'}; "
                    f"console tail:\n{tail}"
                )
        elif outcome.fetch_error and not verdict.failures:
            raise InfraError(f"{self.name}: load {load_id} finished, but its results could not be fetched whole: "
                             f"{outcome.fetch_error} (saved in {outcome.local_dir})")  # fmt: skip
        if self.settings.nas:
            # Finished: it counts as the NAS's only if the outage took more of it than the prober's resolution.
            report.nas_outage = self._nas_outage(load_started, min_overlap_s=nas_probe.EVERY_S + nas_probe.TIMEOUT_S)
        return report

    def _nas_alive(self) -> bool:
        """Does the NAS answer? (A frozen NAS is an outage, not the blade's hang.) The run's one prober
        (``fleet.nas_probe``) says; only without a fresh word from it does this worker ask over ssh."""
        state = nas_probe.read_state(Path(self.settings.run_dir) / NAS_PROBE)
        if state is not None:
            return state.alive
        nas = Remote(self.settings.nas, Path(self.settings.ssh_config), Path(self.settings.control_dir))
        try:
            return nas.run_bytes("true", limit=nas_probe.TIMEOUT_S)[0] == 0  # all of it, ssh's set-up included
        except RemoteError:
            return False

    def _outages_in_uptime(self, load_started: float, window: tuple[float, float] | None) -> list[Outage]:
        """The NAS outages the run's prober saw during this load, in the blade's uptime (``judge``'s rule for a
        hung task waiting on the NAS). The load's first stamp was taken within its ssh start of
        ``load_started``; each outage is widened by the prober's resolution (it sees a change up to one probe
        and its timeout late)."""
        if not self.settings.nas or window is None:
            return []
        state = nas_probe.read_state(Path(self.settings.run_dir) / NAS_PROBE)
        if state is None:
            return []
        now, boot = time.time(), load_started - window[0]  # the epoch of the blade's uptime 0
        late = nas_probe.EVERY_S + nas_probe.TIMEOUT_S
        return [(s - boot - late, (now if e is None else e) - boot) for s, e in state.outages_during(load_started, now)]

    def outage_excused(self) -> set[ExcuseKey]:
        """The hung-task reports the loads put down to a NAS outage (for the whole run's health check)."""
        return set(self._outage_excused)

    def _nas_outage(self, since: float, min_overlap_s: float = 0.0) -> str:
        """How the run's NAS prober saw the NAS fail since ``since`` (epoch), in words; "" if it did not."""
        state = nas_probe.read_state(Path(self.settings.run_dir) / NAS_PROBE)
        found = state.outage_during(since, time.time(), min_overlap_s) if state else None
        if found is None:
            return ""
        start, end = found
        when = time.strftime("%H:%M:%S", time.localtime(start))
        return (f"did not answer from {when} for {(end or time.time()) - start:.0f} s"
                + ("" if end is not None else " (still out)"))  # fmt: skip

    # -- the emulator's own stalls (virtual blades) ------------------------------
    def _hostload(self) -> HostLoad | None:
        if not self.settings.virtual:
            return None
        from swaplab.lab.paths import LabPaths

        try:
            pid = int((LabPaths.default().run / f"{self.name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        return HostLoad(pid)

    def _emulator_stall(self, load_id: str, findings: list[Finding], watch: ConsoleWatch | None, hostload: HostLoad,
                        local_dir: Path) -> None:  # fmt: skip
        """Stalls and lockups that coincide with the host's starvation are the emulator's: an InfraError with the
        figures, never a kernel failure (and never a silent pass)."""
        fails = [f for f in findings if f.kind in FAIL_KINDS]
        if not fails or any(f.kind not in EMULATOR_STALL_KINDS for f in fails):
            return
        arrivals = {(a.finding.kind, a.finding.text): a.at for a in (watch.arrivals if watch else [])}
        end = hostload.samples[-1].at if hostload.samples else time.time()
        starved = [hostload.starved(arrivals.get((f.kind, f.text), end)) for f in fails]
        if any(p is None for p in starved):
            return
        pressure, cpu_s, wall = hostload.figures()
        figures = {"stalls": [f"{f.kind}: {f.text[:200]}" for f in fails], "host_cpu_pressure_before_pct":
                   [round(p or 0.0, 1) for p in starved], "host_cpu_pressure_load_pct": pressure,
                   "emulator_cpu_s": cpu_s, "wall_s": round(wall, 1)}  # fmt: skip
        local_dir.mkdir(parents=True, exist_ok=True)
        (local_dir / "host-load.json").write_text(json.dumps(figures, indent=1))
        self.down = None
        raise InfraError(
            f"{self.name}: {', '.join(sorted({f.kind for f in fails}))} during {load_id} coincide with the emulator's "
            f"starvation, not the kernel's: the host's CPU pressure was {max(p or 0 for p in starved):.0f}% in the "
            f"minute before (over {STARVED_PCT:.0f}% counts), and the blade's QEMU got "
            f"{cpu_s if cpu_s is not None else float('nan'):.0f} s of CPU in {wall:.0f} s. Rerun on a quieter host "
            f"(figures: {local_dir / 'host-load.json'})"
        )

    # -- faults (the virtual lab's, `run --fault`) ---------------------------------
    def _fault_for(self, load_id: str) -> FaultTimer | None:
        opts = self.settings.options
        if not opts.fault or self.name != sorted(self.settings.blades)[0]:
            return None
        spec = FaultSpec.parse(opts.fault)
        if spec.load != load_id:
            return None
        from swaplab.lab import machines
        from swaplab.lab.paths import LabPaths

        paths = LabPaths.default()
        nas = Remote(self.settings.nas, Path(self.settings.ssh_config), Path(self.settings.control_dir))

        def nas_shell(command: str) -> None:
            r = nas.run(command, timeout=60)
            if r.rc != 0:
                raise RuntimeError(f"`{command}` on the NAS exited {r.rc}: {r.stderr.strip()[-200:]}")

        def sysrq(key: str) -> None:
            if self.console is None:
                raise RuntimeError("the blade has no console")
            self.console.send_sysrq(key)

        self.progress(f"{load_id}: fault {spec} armed")
        handles = LabHandles(paths.run / f"{self.name}.qmp", lambda frozen: machines.nas_freeze(paths, frozen), sysrq,
                             nas_shell, machines.nfs_service(paths))  # fmt: skip
        return FaultTimer(spec, handles)

    # -- recovery ----------------------------------------------------------------
    def recover(self, load_id: str, outcome: LoadOutcome, watch: ConsoleWatch) -> Recovery:
        """After a hang or a panic: the blocked tasks (sysrq w, t) and the console tail as evidence, then a
        power-cycle into the kernel under test with its swap restored (the boot and swap plays, this blade
        alone). A blade that cannot be recovered, or hangs ``max_hangs`` times, is quarantined."""
        detected = round(time.time() - watch.started, 1)
        self.progress(f"{load_id}: {outcome.status} ({watch.reason[:120]}); recovering the blade")
        evidence = []
        for key in ("w", "t"):
            try:
                answer = self.sysrq(key)
            except InfraError as e:
                answer = f"sysrq {key} could not be sent: {e}\n".encode()
            path = outcome.local_dir / f"sysrq-{key}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(answer)
            evidence.append(str(path))
        tail = outcome.local_dir / "console-tail.log"
        tail.write_bytes(self._console_read(self.console_start)[-20000:])
        evidence.append(str(tail))
        self.hangs += 1
        self.remote.close()  # the ssh master to the dead blade
        self._host, self._areas, self._agent = None, None, False
        t0 = time.monotonic()
        queued = 0.0
        try:
            with slots.slot(Path(self.settings.run_dir), "recovery", self.settings.options.max_recoveries,
                            RECOVERY_QUEUE_S) as queued:  # fmt: skip
                if queued >= 1:
                    self.progress(f"{load_id}: waited {queued:.0f} s for one of --max-recoveries "
                                  f"{self.settings.options.max_recoveries} recovery slots")  # fmt: skip
                recovered, why = self._reprovision(outcome.local_dir)
        except slots.SlotTimeout as e:
            recovered, why = False, str(e)
        seconds = round(time.monotonic() - t0 - queued, 1)
        if recovered:
            self.start = {}
            try:
                self.baseline()  # counters restart with the kernel: the health suite compares from here
            except InfraError as e:
                recovered, why = False, f"the blade did not answer after recovery: {e}"
        quarantined = ""
        if not recovered:
            quarantined = f"recovery after {load_id} failed: {why}"
        elif self.hangs >= self.settings.options.max_hangs:
            quarantined = (
                f"hung or panicked {self.hangs} times in this run (--max-hangs {self.settings.options.max_hangs})"
            )
        if quarantined:
            self.quarantined = quarantined
        self.progress(
            f"{load_id}: " + (f"quarantined: {quarantined}" if quarantined else f"recovered in {seconds:.0f} s")
        )
        return Recovery(load=load_id, status=outcome.status, reason=watch.reason, detected_at_s=detected,
                        evidence=tuple(evidence), recovered=recovered, recovery_s=seconds,
                        queued_s=round(queued, 1), quarantined=quarantined)  # fmt: skip

    def _reprovision(self, local_dir: Path) -> tuple[bool, str]:
        """The boot and swap plays for this blade alone, with a forced power-cycle: (ok, why not)."""
        from swaplab.provision import ProvisionError, provision

        kernel = self.settings.kernel
        try:
            res = provision(self.settings.inventory, str(kernel.get("path") or "") or None,
                            lambda m: self.progress(f"recovery: {m.strip()}"), playbook="recover.yml",
                            kvars=kernel, limit=self.name, artifacts=local_dir / "recovery",
                            extra={"blade_boot__force": True})  # fmt: skip
        except (ProvisionError, KeyboardInterrupt) as e:
            return False, str(e)
        return res.ok, "; ".join(res.failures)[:500]

    def hog_pids(self) -> set[int]:
        """The PIDs every hog of this run had (their OOM kills are judged by the test that ran them)."""
        return set(self._hog_pids)

    # -- console ---------------------------------------------------------------
    def _console_size(self) -> int:
        return self.console.mark() if self.console else 0

    def _console_read(self, start: int) -> bytes:
        """The console since ``start`` (nothing if the blade has no console)."""
        return self.console.since(start) if self.console else b""

    def _console_slice(self, start: int, save_to: Path) -> str:
        data = self._console_read(start)
        if self.console is not None:
            save_to.parent.mkdir(parents=True, exist_ok=True)
            save_to.write_bytes(data)
        return data.decode(errors="replace")

    def sysrq(self, key: str) -> bytes:
        """Send magic sysrq ``key`` through the blade's console transport; what the console shows after it
        (the kernel's answer: blocked tasks for ``w``), read for up to a few seconds."""
        if self.console is None:
            raise InfraError(f"{self.name} has no console: sysrq cannot be sent")
        mark = self.console.mark()
        try:
            self.console.send_sysrq(key)
        except Exception as e:  # a transport's own errors: SOL, QMP
            raise InfraError(f"{self.name}: sysrq {key} could not be sent: {e}") from e
        answer = b""
        for line in self.console.follow(SYSRQ_ANSWER_S, mark=mark):
            answer += line.encode() + b"\n"
        return answer

    def console_since_start(self) -> bytes:
        return self._console_read(self.console_start)


def fault_record(spec: FaultSpec, injection: Injection | None, load_started: float, watch: ConsoleWatch | None,
                 recovery: Recovery | None) -> FaultRecord:  # fmt: skip
    """The fault's timeline, in seconds into its load: injected, ended, first symptom, detected, recovered."""

    def rel(t: float | None) -> float | None:
        return round(t - load_started, 1) if t is not None else None

    if injection is None or injection.injected_at is None:
        why = injection.error if injection is not None else "the load ended before the fault was due"
        return FaultRecord(spec=str(spec), scenario=spec.scenario, load=spec.load, error=why or "not injected")
    symptom = next((a for a in (watch.arrivals if watch else []) if a.at >= injection.injected_at
                    and a.finding.severity in ("fail", "warn")), None)  # fmt: skip
    detected = watch.ended_at if watch is not None else None
    recovered = None
    if detected is not None and recovery is not None and recovery.recovered and recovery.recovery_s is not None:
        recovered = detected + recovery.recovery_s
    return FaultRecord(spec=str(spec), scenario=spec.scenario, load=spec.load, injected_at_s=rel(injection.injected_at),
                       ended_at_s=rel(injection.ended_at), first_symptom_at_s=rel(symptom.at) if symptom else None,
                       first_symptom=f"{symptom.finding.kind}: {symptom.finding.text[:200]}" if symptom else "",
                       detected_at_s=rel(detected), recovered_at_s=rel(recovered) if recovered else None,
                       error=injection.error)  # fmt: skip


def finding_record(f: Finding, console_text: str, load: str | None, start_uptime: float | None,
                   outage_excused: bool = False) -> FindingRecord:  # fmt: skip
    """A finding as the reports carry it: when it happened (kernel time, and seconds into the load) and,
    for a console finding, the console lines around it. One the verdict put down to a NAS outage is a
    warning ("warn")."""
    ts = f.fields.get("timestamp")
    kernel_time = float(ts) if isinstance(ts, int | float) else None
    at = round(kernel_time - start_uptime, 3) if kernel_time is not None and start_uptime is not None else None
    excerpt = ""
    if f.source.endswith(":console") and console_text:
        lines = console_text.split("\n")
        i = max(0, f.line - 1)
        excerpt = "\n".join(line.rstrip("\r") for line in lines[max(0, i - EXCERPT_LINES) : i + EXCERPT_LINES + 1])
    severity = "warn" if outage_excused else str(f.severity)
    return FindingRecord(kind=f.kind, severity=severity, text=f.text[:500], source=f.source, line=f.line,
                         kernel_time_s=kernel_time, at_s=at, load=load, excerpt=excerpt[-4000:])  # fmt: skip


def scan(data: bytes, source: str, fmt: str) -> list[Finding]:
    """The detectors' findings in ``data`` (a console slice or a dmesg dump)."""
    return list(scan_stream(io.BytesIO(data), source, fmt).findings)
