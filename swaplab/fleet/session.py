"""One blade's session: it runs loads on the blade and judges them.

The suites in ``tests/fleet/`` stay thin: they ask a ``BladeSession`` to run a load and assert on the
``LoadReport`` it returns. Whose a load's end is, the kernel's (a failure) or the lab's (``InfraError``,
a JUnit ``<error>``; the blade's later tests then error at once), is ``fleet.judge.decide``'s word. What
the session needs of the lab (power-cycling, host load, faults) comes as ``fleet.hooks.LabHooks``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swaplab.agent import PROGRAMS
from swaplab.drivers import console_driver
from swaplab.drivers.protocols import ConsoleProtocol
from swaplab.fleet import nas_probe
from swaplab.fleet.blade_console import BladeConsole
from swaplab.fleet.emulator import emulator_stall
from swaplab.fleet.hooks import LabHooks
from swaplab.fleet.judge import ExcuseKey, LoadEnd, decide, excused_before, memory_bad
from swaplab.fleet.life import Life, State
from swaplab.fleet.loads import (
    AGENT_DIR,
    SWAPS_COMMAND,
    LoadOutcome,
    LoadRunner,
    SwapArea,
    kill_leftovers,
    parse_swaps,
)
from swaplab.fleet.outcome import LoadReport, judge_load
from swaplab.fleet.recovery import recover
from swaplab.fleet.remote import Remote, RemoteError
from swaplab.fleet.settings import InfraError, Settings
from swaplab.fleet.trials import TrialPairs
from swaplab.fleet.watch import ConsoleWatch
from swaplab.options import WorkingSet
from swaplab.records import Facts, from_json
from swaplab.rundir import PROGRESS_LOG

if TYPE_CHECKING:
    import testinfra.host


class BladeSession:
    def __init__(self, name: str, settings: Settings, remote: Remote | None = None,
                 console: ConsoleProtocol | None = None, hooks: LabHooks | None = None) -> None:  # fmt: skip
        """``remote`` and ``console`` default to what ``settings`` names (ssh, the console driver); unit
        tests give fakes that speak the same protocols. ``hooks``: what the lab does for it (none: no faults,
        no host-load figures, and a hung blade cannot be power-cycled)."""
        self.name = name
        self.settings = settings
        self.hooks = hooks or LabHooks()
        self.dir = Path(settings.run_dir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.remote = remote or Remote(name, Path(settings.ssh_config), Path(settings.control_dir))
        self.runner = LoadRunner(self.remote, self.dir / "loads", self.progress, pin=settings.options.pin)
        self.console = console or console_driver(settings.blades[name].get("console"))
        self.con = BladeConsole(name, self.console)
        self.life = Life()  # up, loading, hung/crashed ... power-cycled, down or quarantined (fleet.life)
        self.start: dict[str, Any] = {}
        self._hog_pids: set[int] = set()
        self._areas: list[SwapArea] | None = None
        self._agent = False
        self._host: testinfra.host.Host | None = None
        prior = [from_json(r) for r in settings.prior.get(name, [])]
        self._outage_excused: set[ExcuseKey] = excused_before(prior)  # a resumed run's health check reads them again
        self.trials = TrialPairs.for_run(settings.options, prior, self.progress, settings.deadline)
        for facts in (r for r in prior if isinstance(r, Facts) and "release" in r.values):
            self.start = dict(facts.values)  # the first contact of the interrupted run
        self._contact_journaled = bool(self.start)

    def progress(self, message: str) -> None:
        """A progress line for the terminal: appended to the run's progress log, which `swaplab run` follows
        (the suites run in pytest, in xdist workers when there are several blades: their output is captured)."""
        line = " ".join(f"{self.name}: {message}".split())  # one line, no control characters
        with (Path(self.settings.run_dir) / PROGRESS_LOG).open("a") as f:
            f.write(line + "\n")

    # -- reachability ------------------------------------------------------
    @property
    def down(self) -> str | None:
        """Since when and why the lab lost this blade (its later cases are errors), or None."""
        return self.life.down

    def lost(self, why: str) -> None:
        """The lab lost the blade (no answer, a load not started): down, unless its life ended or a recovery has it."""
        if self.life.usable:
            self.life.to(State.DOWN, why)

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
            self.lost(f"`{command[:60]}` got no answer ({e})")
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

    def fresh_baseline(self) -> dict[str, Any]:
        """First contact again, after a power-cycle: the counters restart with the kernel."""
        self.start = {}
        return self.baseline()

    def contact_to_journal(self) -> dict[str, Any] | None:
        """The first contact, once, for the first case that records it (``test_reachable``, or the first load
        where the config suite did not run): a later pytest session over the same run (``--resume``, a
        confirming rerun) reads it back from the journal as its health baseline."""
        if self._contact_journaled or not self.start:
            return None
        self._contact_journaled = True
        return dict(self.start)

    # -- swap areas ------------------------------------------------------------
    def swap_areas(self) -> list[SwapArea]:
        """The active swap areas, told apart by what backs them (NFS file or NBD device)."""
        if self._areas is None:
            self._areas = parse_swaps(self.sh(SWAPS_COMMAND))
        return self._areas

    def area(self, kind: str) -> SwapArea:
        found = [a for a in self.swap_areas() if a.kind == kind]
        if not found:
            raise InfraError(f"{self.name}: no active {kind.upper()} swap area (was `swaplab provision` run?)")
        return found[0]

    # -- loads -----------------------------------------------------------------
    def ship_agent(self) -> None:
        """The programs loads run on the blade (the hog, the sampler), each written whole or not at all."""
        if self._agent:
            return
        self.sh(kill_leftovers(), timeout=30)
        for program in PROGRAMS:
            dest = f"{AGENT_DIR}/{program.name}"
            self.sh(f"mkdir -p {AGENT_DIR} && cat > {dest}.tmp && mv {dest}.tmp {dest}", stdin=program.read_bytes())
        self._agent = True

    def mem_total_kib(self) -> int:
        return int(self.sh("awk '/^MemTotal:/ {print $2}' /proc/meminfo").strip())

    def working_set_args(self, working_set: WorkingSet | None = None) -> tuple[str, float]:
        """hog.py's size argument, and the working set in MiB it will mean on this blade (for the budget)."""
        ws = working_set or self.settings.options.working_set
        return ws.hog_argument(), ws.mib(self.mem_total_kib() if ws.unit == "times_ram" else 0)

    def load(
        self, load_id: str, command: str, budget_s: int, use: str = "all", mkswap: list[str] | None = None,
        hog_oom_expected: bool = False,
    ) -> LoadReport:  # fmt: skip
        """Run one load with swap on ``use`` ("nfs", "nbd" or "all"); judge its console and kernel log."""
        self.baseline()  # first contact, if the config suite did not run (`--suite hog,verdict`)
        self.ship_agent()
        areas = self.swap_areas()
        targets = areas if use == "all" else [self.area(use)]
        console_from = self.con.mark()
        watch = None
        if self.console is not None:
            nas_alive = (lambda: nas_probe.alive(self.settings)) if self.settings.nas else None
            watch = ConsoleWatch(self.console, console_from, f"{self.name}:console",
                                 hung_after_s=self.settings.options.hang_budget_s, nas_alive=nas_alive)  # fmt: skip
            watch.start()
        hooks = self.hooks
        fault = hooks.fault(self.name, load_id, self.console, self.progress) if hooks.fault else None
        load_started = time.time()
        if fault is not None:
            fault.start()
        hostload = hooks.host_load(self.name) if hooks.host_load else None
        if hostload is not None:
            hostload.start()
        self.life.to(State.LOADING)
        try:
            try:
                outcome = self.runner.run(load_id, command, budget_s, targets, areas, mkswap,
                                          abort=watch.abort if watch else None,
                                          ended=lambda: watch.status if watch else "ended",
                                          stall_after_s=self.settings.options.stall_after_s)  # fmt: skip
            except RemoteError as e:
                self.lost(f"{load_id} (could not start the load: {e})")
                raise InfraError(str(e)) from e
            finally:
                if watch is not None:
                    watch.stop()
                if hostload is not None:
                    hostload.stop()
                if fault is not None:
                    fault.finish()
            return self._judge(load_id, outcome, watch, fault, hostload, load_started, budget_s, hog_oom_expected,
                               console_from)  # fmt: skip
        finally:
            if self.life.state is State.LOADING:  # judged or not, neither lost nor in recovery: up again
                self.life.to(State.UP)

    def _judge(self, load_id: str, outcome: LoadOutcome, watch: ConsoleWatch | None, fault: Any,
               hostload: Any, load_started: float, budget_s: int, hog_oom_expected: bool,
               console_from: int) -> LoadReport:  # fmt: skip
        """A load's end judged: its report, the blade lost or recovered as its end says."""
        console_text = self.con.save_since(console_from, outcome.local_dir / "console.log")
        if watch is not None:
            watch.save(outcome.local_dir / "watch.json")
        hog_pids = {int(p) for p in outcome.text("hog.pid").split() if p.isdigit()}
        self._hog_pids |= hog_pids
        outages = nas_probe.outages_in_uptime(self.settings, load_started, outcome.uptime_window())
        findings, report = judge_load(self.name, outcome, console_text, hog_pids, hog_oom_expected, outages,
                                      self._outage_excused)  # fmt: skip
        self._outage_excused.update((verdict := report.verdict).outage_excused)
        arrivals = [(a.at, a.finding) for a in (watch.arrivals if watch else [])]
        stall = None
        if hostload is not None:
            report.host_cpu_pressure_pct, report.emulator_cpu_s, _ = hostload.figures()
            stall = emulator_stall(self.name, load_id, findings, arrivals, hostload, outcome.local_dir)
        if watch is not None and outcome.status == "stalled":  # the runner ended it: the watch says how it looked
            watch.status, watch.ended_at = "stalled", watch.stopped_at
            watch.reason = f"{outcome.stall}, while the blade answered ssh; {watch.state(time.time())}"
        fetch_error = f"{outcome.fetch_error} (saved in {outcome.local_dir})" if outcome.fetch_error else ""
        silent = self.settings.nas and outcome.status != "done"
        hog_result = report.json_file("hog.json") or {}
        end = LoadEnd(blade=self.name, load_id=load_id, status=outcome.status, watched=watch is not None,
                      budget_s=budget_s, seconds=outcome.seconds, console_tail=console_text[-1500:],
                      last_error=outcome.last_error or "", fetch_error=fetch_error,
                      memory_bad=memory_bad(verdict, hog_result), nas=self.settings.nas,
                      nas_outage=nas_probe.outage_words(self.settings, load_started) if silent else "",
                      emulator_stall=stall)  # fmt: skip
        decision = decide(end, verdict)
        if decision.down:
            self.lost(decision.down)
        if decision.kind == "recover" and watch is None:  # no console to watch: ended, and the blade is down
            verdict.failures.append(f"{outcome.status}: {outcome.stall}")
            self.lost(f"{load_id} ({outcome.status})")
        elif watch is not None and (decision.kind == "recover" or decision.recover):
            if decision.kind == "recover":  # hung, panicked, crashed, stalled
                if outcome.status in ("hung", "stalled") or not verdict.failures:
                    verdict.failures.append(f"{outcome.status}: {watch.reason}")
            else:  # finished, but the blade's memory went bad
                watch.status, watch.reason, watch.ended_at = "memory-bad", decision.recover, watch.stopped_at
            self.life.ended(watch.status or outcome.status)
            report.recovery = recover(self, load_id, outcome, watch)  # power-cycled: its later cases go on
            report.attachments += list(report.recovery.evidence)
        if fault is not None:
            report.fault = fault.record(load_started, arrivals, watch.ended_at if watch else None, report.recovery)
        if decision.kind == "infra":
            raise InfraError(decision.message)
        if self.settings.nas and decision.kind == "judged":
            # Finished: it counts as the NAS's only if the outage took more of it than the prober's resolution.
            resolution = nas_probe.EVERY_S + nas_probe.TIMEOUT_S
            report.nas_outage = nas_probe.outage_words(self.settings, load_started, min_overlap_s=resolution)
        report.first_contact = self.contact_to_journal()
        return report

    def outage_excused(self) -> set[ExcuseKey]:
        """The hung-task reports the loads put down to a NAS outage (for the whole run's health check)."""
        return set(self._outage_excused)

    def forget_connection(self) -> None:
        """Drop the ssh master and what was learnt through it (the blade is being power-cycled)."""
        self.remote.close()
        self._host, self._areas, self._agent = None, None, False

    def power_cycle(self, local_dir: Path) -> tuple[bool, str]:
        """The power-cycle of a recovery, through the lab's hook: (ok, why not)."""
        if self.hooks.reprovision is None:
            return False, "no way to power-cycle this blade was given (LabHooks.reprovision)"
        return self.hooks.reprovision(self.name, local_dir, lambda m: self.progress(f"recovery: {m.strip()}"))

    def hog_pids(self) -> set[int]:
        """The PIDs every hog of this run had (their OOM kills are judged by the test that ran them)."""
        return set(self._hog_pids)
