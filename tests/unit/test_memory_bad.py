"""A blade whose memory goes bad is ended, named and brought back: a fatal userspace crash ends its load at
once, a hog whose progress stands still is "stalled", a finished load whose pages came back wrong leaves its
blade power-cycled before its next case. The rules on plain lines and facts; the session against the fake
blade (tests/unit/fakes.py); the virtual lab's proof is in tests/integration/test_faults.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from swaplab.fleet import loads
from swaplab.fleet.judge import LoadEnd, Verdict, decide, memory_bad
from swaplab.fleet.loads import StallWatch
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import Settings
from swaplab.fleet.watch import ConsoleWatch
from swaplab.options import RunOptions

from .fakes import FakeBlade, FakeConsole


def _watch() -> ConsoleWatch:
    return ConsoleWatch(FakeConsole(), 0, "blade1:console", hung_after_s=150.0, started=1000.0)


def _gpf(comm: str, t: float) -> str:
    return f"[  {t - 1000:.1f}] traps: {comm} general protection fault ip:7f sp:7ffe error:0 in libc.so.6[7f+1000]"


# --- the watch: which crashes end a load ------------------------------------------------------------------------


def test_pid_1_crashing_ends_the_load_at_its_line() -> None:
    w = _watch()
    w.observe(
        "[  194.0] systemd[1]: segfault at 7f00 ip 00007f12 sp 00007ffc error 4 in libc.so.6[7f12+155000]", 1194.0
    )
    assert w.abort.is_set() and w.status == "crashed"
    assert w.reason.startswith("PID 1 (systemd) crashed: the blade can run nothing more, 194 s into the load")
    assert w.ended_at is not None


def test_a_crash_of_the_loads_own_process_ends_the_load() -> None:
    w = _watch()
    w.observe(_gpf("python3[484]", 1050.0), 1050.0)
    assert w.status == "crashed" and "the load's own process python3[484] crashed" in w.reason


def test_one_bystander_crash_does_not_end_the_load_and_the_third_does() -> None:
    w = _watch()
    w.observe(_gpf("sshd[364]", 1010.0), 1010.0)
    w.observe(_gpf("cron[400]", 1011.0), 1011.0)
    assert not w.abort.is_set()  # two bystanders: judged at the load's end, as before
    w.observe(_gpf("systemd-journal[184]", 1012.0), 1012.0)
    assert w.status == "crashed" and "3 processes died of faults in their own memory" in w.reason


def test_a_signal_sent_to_pid_1_is_no_crash() -> None:
    w = _watch()
    w.observe("[  20.0] systemd[1]: Caught <SEGV> from PID 4242.", 1020.0)
    assert not w.abort.is_set()


# --- the runner: a hog that stands still ------------------------------------------------------------------------


def _progress(done: int, phase: str = "verify1") -> str:
    return f'progress {{"phase": "{phase}", "pages_done": {done}, "pages": 1000}}'


def test_progress_that_stands_still_for_the_window_is_a_stall() -> None:
    s = StallWatch(60.0)
    assert s.seen(_progress(900), "verifying the working set, 90% (30 s of 200 s)", 0.0) == ""
    assert s.seen(_progress(900), "verifying the working set, 90% (89 s of 200 s)", 59.0) == ""
    said = s.seen(_progress(900), "verifying the working set, 90% (90 s of 200 s)", 60.0)
    assert said == 'its progress stood at "verifying the working set, 90%" for 60 s'


def test_progress_that_moves_or_changes_phase_is_no_stall() -> None:
    s = StallWatch(60.0)
    s.seen(_progress(1000, "write"), "x", 0.0)
    assert s.seen(_progress(1000, "verify1"), "x", 100.0) == ""  # same count, another phase: it moved
    assert s.seen(_progress(1001, "verify1"), "x", 159.0) == ""
    assert s.seen(_progress(1001, "verify1"), "x", 200.0) == ""  # 41 s since it last moved


@pytest.mark.parametrize("poll", ["progress ", "progress {not json", 'progress {"phase": "x"}'])
def test_a_load_without_readable_progress_never_stalls(poll: str) -> None:
    s = StallWatch(1.0)
    assert all(s.seen(poll, "running", t) == "" for t in (0.0, 10.0, 100.0))


# --- whose it is ------------------------------------------------------------------------------------------------


def _end(status: str, **kw: object) -> LoadEnd:
    return LoadEnd(blade="blade1", load_id="hog-t1-nfs", status=status, watched=True, budget_s=600, seconds=60.0,
                   **kw)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize("status", ["crashed", "stalled", "panic", "hung"])
def test_a_crashed_or_stalled_load_is_the_kernels_and_its_blade_recovered(status: str) -> None:
    assert decide(_end(status), Verdict()).kind == "recover"


def test_a_stall_while_the_nas_was_out_is_the_infrastructures() -> None:
    d = decide(_end("stalled", nas="nas", nas_outage="did not answer for 70 s"), Verdict())
    assert d.kind == "infra" and "stood still while the NAS nas did not answer" in d.message


def test_a_finished_load_whose_memory_went_bad_is_judged_and_its_blade_recovered() -> None:
    why = memory_bad(Verdict(), {"status": "done", "bad_pages": 63})
    assert why == "swap corruption: 63 page(s) of the hog came back from swap wrong"
    d = decide(_end("done", memory_bad=why), Verdict(failures=["swap corruption: ..."]))
    assert d.kind == "judged" and d.recover == why
    assert memory_bad(Verdict(failures=["userspace_crash (c:1): 2 user process(es) died"]), {}).startswith("user ")
    assert memory_bad(Verdict(failures=["hung_task (c:1): ..."]), {"bad_pages": 0}) == ""
    assert memory_bad(Verdict(), {"bad_pages": True}) == ""  # a bool is no count
    assert decide(_end("done"), Verdict()).recover == ""


# --- the session, against the fake blade -------------------------------------------------------------------------


@pytest.fixture
def _short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loads, "WRAP_UP_S", 1.0)
    monkeypatch.setattr(loads, "POLL_S", 0.1)
    monkeypatch.setattr(loads, "WAIT_ON_BLADE_S", 1)
    from swaplab.fleet import blade_console

    monkeypatch.setattr(blade_console, "SYSRQ_ANSWER_S", 0.2)


def _session(tmp_path: Path, behaviour: str, monkeypatch: pytest.MonkeyPatch,
             **options: object) -> tuple[BladeSession, FakeBlade, list[str]]:  # fmt: skip
    console = FakeConsole()
    blade = FakeBlade(console, behaviour)
    settings = Settings(run_dir=str(tmp_path), inventory="", ssh_config="", control_dir="",
                        blades={"blade1": {"console": None}}, options=RunOptions(**options))  # type: ignore[arg-type]  # fmt: skip
    s = BladeSession("blade1", settings, remote=blade, console=console)  # type: ignore[arg-type]
    cycled: list[str] = []

    def reprovision(_d: Path) -> tuple[bool, str]:
        cycled.append(s.name)
        blade.behaviour, blade.answering = "ok", True  # power-cycled: a fresh kernel, its next load fine
        return True, ""

    monkeypatch.setattr(s, "power_cycle", reprovision)
    return s, blade, cycled


@pytest.mark.usefixtures("_short")
def test_a_pid_1_crash_ends_the_trial_keeps_the_journal_and_the_blade_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, _, cycled = _session(tmp_path, "crash", monkeypatch)
    t0 = time.monotonic()
    report = s.load("hog-t1-nfs", "true", budget_s=600, use="nfs")
    assert time.monotonic() - t0 < 10  # not the 600 s budget
    assert report.outcome.status == "crashed"
    assert report.verdict.failures[0].startswith("userspace_crash") or "PID 1" in report.verdict.failures[0]
    assert report.recovery is not None and report.recovery.recovered and report.recovery.status == "crashed"
    evidence = {Path(p).name for p in report.recovery.evidence}
    assert evidence == {"sysrq-w.txt", "sysrq-t.txt", "console-tail.log", "journal-tail.log"}
    journal = (tmp_path / "blade1" / "loads" / "hog-t1-nfs" / "journal-tail.log").read_text()
    assert "Caught <SEGV>" in journal  # kept before the power-cycle
    assert cycled == ["blade1"] and s.down is None and not s.life.quarantined
    assert s.load("hog-t1-nbd", "true", budget_s=600, use="nbd").outcome.status == "done"  # the next case runs


@pytest.mark.usefixtures("_short")
def test_a_hog_standing_still_is_stalled_within_its_window_and_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, blade, cycled = _session(tmp_path, "stall", monkeypatch, stall_after_s=2)
    t0 = time.monotonic()
    report = s.load("hog-t1-nfs", "true", budget_s=600, use="nfs")
    assert time.monotonic() - t0 < 15
    assert report.outcome.status == "stalled"
    failure = report.verdict.failures[-1]
    assert failure.startswith('stalled: its progress stood at "verifying the working set, 95%" for ')
    assert "while the blade answered ssh" in failure and "its console last said" in failure
    assert any("kill -KILL" in c for c in blade.commands)  # what was left of the load, stopped first
    assert report.recovery is not None and report.recovery.recovered and cycled == ["blade1"]


@pytest.mark.usefixtures("_short")
def test_swap_corruption_is_judged_then_the_blade_power_cycled_before_its_next_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, _, cycled = _session(tmp_path, "corrupt", monkeypatch)
    report = s.load("hog-t1-nfs", "true", budget_s=600, use="nfs")
    assert report.outcome.status == "done"  # it finished: its verdict is the hog's (judged by the suite)
    assert report.recovery is not None and report.recovery.status == "memory-bad"
    assert report.recovery.reason == "swap corruption: 63 page(s) of the hog came back from swap wrong"
    assert cycled == ["blade1"] and s.down is None
