"""`BladeSession` without a lab: the blade is a scripted fake behind the ssh ``Remote``'s interface and its
console a fake console stream (tests/unit/fakes.py); the load runner, the detectors and the judge are real.

What is tested is the session's decisions: which console slice belongs to a load, a blade that stops
answering within the load's budget, before the hang budget (an error, and every later call errors at once),
and sysrq through the console's transport. A panic, a hang and the recovery: tests/unit/test_watch.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from swaplab.fleet import loads
from swaplab.fleet.recovery import settle
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import InfraError, Settings
from swaplab.options import RunOptions
from swaplab.records import HogTrial
from tests.unit.fakes import FakeBlade, FakeConsole


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loads, "WRAP_UP_S", 1.0)  # the grace after a load's budget
    monkeypatch.setattr(loads, "POLL_S", 0.1)


def _session(tmp_path: Path, behaviour: str) -> tuple[BladeSession, FakeBlade, FakeConsole]:
    console = FakeConsole()
    console.emit("[    1.000000] Linux version 6.1.0-test-amd64\r\n[    2.000000] early boot noise: BUG: not ours\r\n")
    blade = FakeBlade(console, behaviour)
    settings = Settings(run_dir=str(tmp_path), inventory="", ssh_config="", control_dir="",
                        blades={"blade1": {"console": None}})  # fmt: skip
    return BladeSession("blade1", settings, remote=blade, console=console), blade, console  # type: ignore[arg-type]


def test_a_clean_load_is_judged_on_its_own_console_slice(tmp_path: Path) -> None:
    s, blade, _ = _session(tmp_path, "ok")
    report = s.load("nfs-1", "true", budget_s=5, use="nfs")
    assert report.outcome.status == "done" and report.verdict.failures == []
    saved = (tmp_path / "blade1" / "loads" / "nfs-1" / "console.log").read_text()
    assert "load started" in saved and "early boot noise" not in saved  # only what came during the load
    assert s.baseline()["release"] == FakeBlade.RELEASE
    job = blade.scripts[-1]  # the load used NFS swap alone: NBD off for it, and back on after
    assert "active /dev/nbd0 && swapoff /dev/nbd0" in job and "swapon -p 10 /mnt/nfsswap/swapfile" in job
    assert s.down is None


def test_a_blade_that_stops_answering_is_an_error_within_budget_and_grace(tmp_path: Path) -> None:
    s, _, _ = _session(tmp_path, "hang")
    t = time.monotonic()
    tail = r"(?s)did not come back within its budget of 2 s.*console tail:.*load started"
    with pytest.raises(InfraError, match=tail):
        s.load("nfs-1", "true", budget_s=2, use="nfs")
    assert time.monotonic() - t < 10  # budget + grace, never forever
    with pytest.raises(InfraError, match=r"down since nfs-1 \(no answer within 2 s"):
        s.counters()


def test_sysrq_goes_through_the_console_and_returns_the_kernels_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                       ) -> None:  # fmt: skip
    from swaplab.fleet import blade_console

    monkeypatch.setattr(blade_console, "SYSRQ_ANSWER_S", 0.3)
    s, _, console = _session(tmp_path, "hang")
    answer = s.con.sysrq("w")
    assert console.sysrqs == ["w"] and b"Show Blocked State" in answer and b"early boot" not in answer


def test_sysrq_without_a_console_is_an_error(tmp_path: Path) -> None:
    settings = Settings(run_dir=str(tmp_path), inventory="", ssh_config="", control_dir="",
                        blades={"blade1": {"console": None}})  # fmt: skip
    s = BladeSession("blade1", settings, remote=FakeBlade(FakeConsole()))  # type: ignore[arg-type]
    with pytest.raises(InfraError, match="no console"):
        s.con.sysrq("w")


def test_a_resumed_run_stops_leftover_loads_first_and_waits_for_a_busy_blade(tmp_path: Path) -> None:
    s, blade, _ = _session(tmp_path, "ok")
    settle(s, budget_s=1)
    assert "loads/*/" in blade.commands[0] and "job.sh" in blade.commands[0] and s.down is None
    busy, silent, _ = _session(tmp_path / "b", "ok")
    silent.answering = False
    settle(busy, budget_s=0.5)
    assert busy.down and "a resumed run's first contact (no answer within 0 s" in busy.down


def test_pairs_of_trials_beyond_the_least_run_until_the_ratio_is_tight_and_the_decision_holds(tmp_path: Path) -> None:
    s, _, _ = _session(tmp_path, "ok")
    s.settings.options = RunOptions(trials=2, precision_pct=10, max_trials=6)

    def pair(t: int, nfs: float, nbd: float) -> None:
        s.trials.done += [HogTrial("nfs", t, "done", nfs, None, None), HogTrial("nbd", t, "done", nbd, None, None)]

    assert s.trials.wanted(1) == "" and s.trials.wanted(2) == ""  # the least (--trials 2) always run
    pair(1, 100.0, 50.0)
    pair(2, 150.0, 50.0)  # ratios 2 and 3: wide
    assert s.trials.wanted(3) == ""
    pair(3, 100.0, 50.0)
    assert s.trials.wanted(4) == ""
    for t in (4, 5):
        pair(t, 101.0, 50.0)
    assert s.trials.started() == 5
    s.trials.done = s.trials.done[:2] + [HogTrial("nfs", t, "done", 100.0, None, None) for t in (2, 3, 4, 5)] + [
        HogTrial("nbd", t, "done", 50.0, None, None) for t in (2, 3, 4, 5)]  # fmt: skip
    assert s.trials.wanted(6) == "precision"
    assert s.trials.wanted(6) == "precision" and s.trials.wanted(7) == "precision"  # once stopped, stopped
    assert s.trials.stop == "precision"
    assert "5 pair(s), no more (precision)" in (tmp_path / "progress.log").read_text()
