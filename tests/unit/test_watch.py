"""The live console watch: a panic ends a load at once; silence past the budget is a hang, unless the NAS is
out; then the blade is recovered, or quarantined. The blade and its console are fakes (tests/unit/fakes.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from swaplab.fleet import loads
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import Settings
from swaplab.fleet.watch import ConsoleWatch
from swaplab.options import RunOptions
from tests.unit.fakes import FakeBlade, FakeConsole

PANIC = "[  301.000000] Kernel panic - not syncing: Out of memory and no killable processes...\r"


def _watch(hung_after_s: float = 60.0) -> ConsoleWatch:
    return ConsoleWatch(FakeConsole(), 0, "blade1:console", hung_after_s=hung_after_s, started=1000.0)


def test_a_panic_line_ends_the_load() -> None:
    w = _watch()
    w.observe("[  300.000000] swaplab: heartbeat 3\r", 1001.0)
    assert not w.abort.is_set() and w.heartbeats == 1
    w.observe(PANIC, 1002.0)
    assert w.abort.is_set() and w.status == "panic" and "Kernel panic" in w.reason
    assert [a.finding.kind for a in w.arrivals] == ["panic"] and w.seconds_into_load(w.arrivals[0]) == 2.0


def test_silence_past_the_budget_is_a_hang_but_not_while_the_nas_is_out() -> None:
    w = _watch(hung_after_s=60.0)
    w.observe("[  300.0] swaplab: heartbeat 1", 1010.0)
    w.check(1069.0)
    assert not w.abort.is_set()  # 59 s of silence: within the budget
    w.check(1071.0)
    assert w.reason == (
        "silent for 61 s, past the hang budget of 60 s: its console last said '[  300.0] swaplab: "
        "heartbeat 1', 10 s into the load; last heartbeat 10 s into the load (1 in all)"
    )
    nas = _watch(hung_after_s=60.0)
    nas.observe("[  400.0] nfs: server 10.0.0.1 not responding, still trying", 1010.0)
    nas.check(1200.0)
    assert not nas.abort.is_set()  # the heartbeat stopped because the NAS did: an outage, not a hang
    nas.observe("[  590.0] nfs: server 10.0.0.1 OK", 1201.0)
    nas.check(1300.0)
    assert nas.status == "hung"  # the NAS is back and the blade still says nothing
    assert "no heartbeat during the load" in nas.reason and "'[  590.0] nfs: server 10.0.0.1 OK', 201 s" in nas.reason


def test_a_hang_after_userspace_crashes_says_so_and_what_the_console_said_last() -> None:
    """The corrupted-swap case: processes crash, the hog and the heartbeat go with them, the console goes quiet.
    The hang names the crashes and when the blade went silent, not "no console output"."""
    w = _watch(hung_after_s=150.0)
    w.observe("[  155.0] swaplab: heartbeat 30", 1155.0)
    for t, comm in ((1158.0, "sshd[364]"), (1161.0, "systemd-journal[184]")):  # not the load's, not PID 1: two
        w.observe(f"[  {t - 1000:.1f}] traps: {comm} general protection fault ip:7f sp:7ffe error:0 in libc.so.6"
                  "[7f+1000]\x1b[0m", t)  # fmt: skip
    w.check(1312.0)
    assert w.status == "hung"
    assert w.reason.startswith("silent for 151 s, past the hang budget of 150 s: its console last said '[  161.0] "
                               "traps: systemd-journal[184] general protection fault")  # fmt: skip
    assert ", 161 s into the load; last heartbeat 155 s into the load (1 in all); before that, 2 userspace " in w.reason
    assert "crash(es) (sshd[364], systemd-journal[184])" in w.reason and "\x1b" not in w.reason


@pytest.fixture
def _short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loads, "WRAP_UP_S", 1.0)
    monkeypatch.setattr(loads, "POLL_S", 0.1)
    from swaplab.fleet import blade_console

    monkeypatch.setattr(blade_console, "SYSRQ_ANSWER_S", 0.2)


def _session(tmp_path: Path, behaviour: str, max_hangs: int = 2) -> tuple[BladeSession, FakeBlade, FakeConsole]:
    console = FakeConsole()
    blade = FakeBlade(console, behaviour)
    settings = Settings(run_dir=str(tmp_path), inventory="", ssh_config="", control_dir="",
                        blades={"blade1": {"console": None}}, options=RunOptions(max_hangs=max_hangs))  # fmt: skip
    return BladeSession("blade1", settings, remote=blade, console=console), blade, console  # type: ignore[arg-type]


@pytest.mark.usefixtures("_short")
def test_a_panic_mid_load_is_a_failure_within_seconds_then_the_blade_is_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, blade, console = _session(tmp_path, "panic")
    reprovisioned: list[str] = []

    def reprovision(_d: Path) -> tuple[bool, str]:
        reprovisioned.append(s.name)
        blade.answering = True  # power-cycled, booted, swap restored
        return True, ""

    monkeypatch.setattr(s, "power_cycle", reprovision)
    t0 = time.monotonic()
    report = s.load("hog-t1-nfs", "true", budget_s=600, use="nfs")
    took = time.monotonic() - t0
    assert took < 10, took  # not the 600 s budget: the console said it all
    assert report.outcome.status == "panic" and report.verdict.failures
    assert report.recovery is not None and report.recovery.recovered and not report.recovery.quarantined
    assert console.sysrqs == ["w", "t"] and reprovisioned == ["blade1"]
    evidence = {Path(p).name for p in report.recovery.evidence}
    assert evidence == {"sysrq-w.txt", "sysrq-t.txt", "console-tail.log"}
    assert b"Show Blocked State" in (tmp_path / "blade1" / "loads" / "hog-t1-nfs" / "sysrq-w.txt").read_bytes()
    assert s.down is None and not s.life.quarantined and s.start["release"] == FakeBlade.RELEASE  # usable again


@pytest.mark.usefixtures("_short")
def test_a_blade_that_cannot_be_recovered_is_quarantined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, _, _ = _session(tmp_path, "panic")
    monkeypatch.setattr(s, "power_cycle", lambda _d: (False, "blade1: Wait for ssh: UNREACHABLE"))
    report = s.load("hog-t1-nfs", "true", budget_s=600, use="nfs")
    assert report.recovery is not None and not report.recovery.recovered
    assert s.life.quarantined.startswith("recovery after hog-t1-nfs failed: blade1: Wait for ssh")


@pytest.mark.usefixtures("_short")
def test_a_frozen_blade_is_hung_within_its_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, blade, _ = _session(tmp_path, "hang", max_hangs=1)
    s.settings.options.hang_budget_s = 2  # silence: no heartbeat, nothing (a paused VM)
    monkeypatch.setattr(s, "power_cycle", lambda _d: (setattr(blade, "answering", True), (True, ""))[1])
    t0 = time.monotonic()
    report = s.load("hog-t1-nbd", "true", budget_s=600, use="nbd")
    assert time.monotonic() - t0 < 10
    assert report.outcome.status == "hung" and "silent for" in report.verdict.failures[0]
    assert report.recovery is not None and report.recovery.recovered
    assert s.life.quarantined == "hung or panicked 1 times in this run (--max-hangs 1)"


def test_an_aborted_poll_lets_go_of_its_ssh_at_once(tmp_path: Path) -> None:
    """Remote.run's abort: a poll hanging on a dead blade is cut short (here a local `sleep` stands in)."""
    from swaplab.fleet.remote import Remote, RemoteError

    class Local(Remote):
        def argv(self) -> list[str]:
            return ["sh", "-c", 'shift 2; exec sh -c "$1"', "ssh"]  # $1 --, $2 the host, $3 the command

    r = Local("blade1", tmp_path / "cfg", tmp_path)
    abort = threading.Event()
    threading.Timer(0.5, abort.set).start()
    t0 = time.monotonic()
    with pytest.raises(RemoteError, match="the load was ended"):
        r.run("sleep 30", timeout=60, abort=abort)
    assert time.monotonic() - t0 < 5


def test_fault_specs_are_parsed_and_refused_with_the_forms() -> None:
    from swaplab.lab.faults import FaultSpec

    assert FaultSpec.parse("blade-freeze@hog-t1-nfs+20") == FaultSpec("blade-freeze", "hog-t1-nfs", 20.0)
    assert str(FaultSpec.parse("nas-freeze:60@fio-hog-nbd+5")) == "nas-freeze:60@fio-hog-nbd+5"
    for bad, why in (
        ("meteor@hog-t1-nfs+1", "scenarios: blade-freeze"),
        ("nas-freeze@hog-t1-nfs+1", "needs a duration"),
        ("blade-crash:5@hog-t1-nfs+1", "takes no duration"),
        ("blade-crash@hog-t1-nfs", "give SCENARIO"),
    ):
        with pytest.raises(ValueError, match=why):
            FaultSpec.parse(bad)


def test_a_fault_timeline_is_in_seconds_into_its_load() -> None:
    from swaplab.fleet.watch import Arrival
    from swaplab.lab.faults import FaultSpec, Injection, fault_record
    from swaplab.records import Recovery

    spec = FaultSpec("blade-crash", "hog-t1-nfs", 20.0)
    w = _watch()
    w.observe(PANIC, 1021.5)
    assert isinstance(w.arrivals[0], Arrival) and w.ended_at is not None
    rec = Recovery(load="hog-t1-nfs", status="panic", reason="x", detected_at_s=21.5, recovered=True, recovery_s=95.0)
    arrivals = [(a.at, a.finding) for a in w.arrivals]
    f = fault_record(spec, Injection(spec, injected_at=1020.0), 1000.0, arrivals, w.ended_at, rec)
    assert (f.injected_at_s, f.first_symptom_at_s) == (20.0, 21.5) and f.first_symptom.startswith("panic")
    assert f.detected_at_s is not None and f.recovered_at_s == pytest.approx(f.detected_at_s + 95.0)
    missed = fault_record(spec, None, 1000.0, arrivals, w.ended_at, None)
    assert missed.error == "the load ended before the fault was due" and missed.injected_at_s is None


def test_a_silent_blade_whose_nas_is_silent_too_is_an_outage_not_a_hang() -> None:
    """The kernel says "not responding" only after 180 s; a frozen NAS is asked directly."""
    answers = [False, False, True, True]
    w = ConsoleWatch(FakeConsole(), 0, "blade1:console", hung_after_s=45.0, started=1000.0,
                     nas_alive=lambda: answers.pop(0))  # fmt: skip
    w.check(1050.0)
    assert not w.abort.is_set() and w.nas_out_seen == 1  # the NAS is out: wait
    w.check(1060.0)
    assert not w.abort.is_set()  # asked again only every 15 s
    w.check(1066.0)
    assert not w.abort.is_set() and w.nas_out_seen == 2
    w.check(1082.0)
    assert not w.abort.is_set()  # the NAS is back: the blade gets a whole budget from now to resume
    w.check(1126.0)
    assert not w.abort.is_set()
    w.check(1128.0)
    assert w.status == "hung"  # the NAS answers and the blade still says nothing, 46 s on


def _hold_a_recovery(run_dir: str, count: int, log: str, hold_s: float) -> None:
    from swaplab import slots

    with slots.slot(Path(run_dir), "recovery", count, timeout_s=60, poll_s=0.05):
        with open(log, "a") as f:
            f.write(f"+ {time.monotonic()}\n")
        time.sleep(hold_s)
        with open(log, "a") as f:
            f.write(f"- {time.monotonic()}\n")


def test_at_most_k_recoveries_run_at_once_across_processes(tmp_path: Path) -> None:
    """Storm control: 6 blades' workers (processes, as under xdist) recover at once, 2 slots: never more than
    2 in a recovery at a time, and every one got its turn. Before: no cap at all."""
    import multiprocessing

    log = tmp_path / "log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hold_a_recovery, args=(str(tmp_path), 2, str(log), 0.3)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 6
    events = sorted((float(t), sign) for sign, t in (line.split() for line in log.read_text().splitlines()))
    inside, most = 0, 0
    for _, sign in events:
        inside += 1 if sign == "+" else -1
        most = max(most, inside)
    assert most == 2 and len(events) == 12


def test_a_slot_dies_with_its_process_and_the_wait_is_bounded(tmp_path: Path) -> None:
    import multiprocessing

    from swaplab import slots

    ctx = multiprocessing.get_context("fork")
    holder = ctx.Process(target=_hold_a_recovery, args=(str(tmp_path), 1, str(tmp_path / "log"), 30))
    holder.start()
    while not (tmp_path / "log").exists():
        time.sleep(0.05)
    refused = pytest.raises(slots.SlotTimeout, match="no recovery slot of 1 came free within 1 s")
    with refused, slots.slot(tmp_path, "recovery", 1, timeout_s=1, poll_s=0.1):
        pass
    holder.kill()  # kill -9 of a worker mid-recovery: its lock goes with it
    holder.join()
    with slots.slot(tmp_path, "recovery", 1, timeout_s=5, poll_s=0.1) as waited:
        assert waited < 5


@pytest.mark.usefixtures("_short")
def test_a_recovery_waits_for_a_slot_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's recovery goes through the run's slots: with the only slot held elsewhere, it waits, and
    the record says how long (the power-cycle's own time excludes the wait)."""
    import threading

    from swaplab import slots

    s, blade, _ = _session(tmp_path, "panic")
    s.settings.options.max_recoveries = 1
    monkeypatch.setattr(s, "power_cycle", lambda _d: (setattr(blade, "answering", True), (True, ""))[1])
    held, release = threading.Event(), threading.Event()

    def other_blade() -> None:
        with slots.slot(tmp_path, "recovery", 1, timeout_s=10):
            held.set()
            release.wait(10)

    t = threading.Thread(target=other_blade)
    t.start()
    held.wait(5)
    threading.Timer(1.5, release.set).start()
    report = s.load("hog-t1-nfs", "true", budget_s=600, use="nfs")
    t.join()
    assert report.recovery is not None and report.recovery.recovered
    assert report.recovery.queued_s >= 1.0 and (report.recovery.recovery_s or 0) < 1.0
