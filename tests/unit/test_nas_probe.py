"""One NAS prober for the whole run: the workers read its file instead of each ssh'ing to the NAS,
and a NAS that stops answering under many silent blades is one infrastructure incident, not N hangs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from swaplab.fleet import nas_probe
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import InfraError, Settings
from swaplab.options import RunOptions
from swaplab.rundir import NAS_PROBE
from tests.unit.fakes import FakeBlade, FakeConsole


def test_the_prober_keeps_one_incident_per_outage(tmp_path: Path) -> None:
    answers = iter([True, False, False, True, False])
    p = nas_probe.NasProber(lambda: next(answers), tmp_path / NAS_PROBE)
    for t in (100.0, 105.0, 110.0, 115.0, 120.0):
        p.step(now=t)
    st = nas_probe.read_state(tmp_path / NAS_PROBE, now=121.0)
    assert st is not None and not st.alive and st.out_since == 120.0
    assert st.incidents == [{"start": 105.0, "end": 115.0}, {"start": 120.0, "end": None}]
    assert st.outage_during(100.0, 104.0) is None and st.outage_during(100.0, 106.0) == (105.0, 115.0)
    assert st.outage_during(116.0, 130.0) == (120.0, None)
    assert nas_probe.read_state(tmp_path / NAS_PROBE, now=121.0 + nas_probe.STALE_S + 1) is None  # stale
    # A finished load counts as the NAS's only where the outage took more of it than the prober's resolution:
    # one started 2 s before the prober saw the NAS back did not wait on it (the simulated rack's NBD trials).
    assert st.outage_during(113.0, 119.0, min_overlap_s=5.0) is None
    assert st.outage_during(100.0, 114.0, min_overlap_s=5.0) == (105.0, 115.0)
    assert st.outage_during(121.0, 130.0, min_overlap_s=5.0) == (120.0, None)  # still out at the load's end


@pytest.mark.parametrize("kind", ["fifo", "symlink", "garbage", "huge", "infinite"])
def test_a_planted_probe_file_is_no_answer(tmp_path: Path, kind: str) -> None:
    path = tmp_path / NAS_PROBE
    if kind == "fifo":
        os.mkfifo(path)  # a blocking read would hang every worker
    elif kind == "symlink":
        (tmp_path / "elsewhere").write_text(json.dumps({"checked": 1.0, "alive": False}))
        path.symlink_to(tmp_path / "elsewhere")
    elif kind == "garbage":
        path.write_text('{"checked": "soon", "alive": [')
    elif kind == "huge":
        path.write_bytes(b" " * (nas_probe.MAX_STATE_BYTES + 10))
    else:
        path.write_text('{"checked": Infinity, "alive": false}')
    assert nas_probe.read_state(path, now=2.0) is None


def _session(tmp_path: Path, behaviour: str) -> tuple[BladeSession, FakeBlade]:
    console = FakeConsole()
    blade = FakeBlade(console, behaviour)
    settings = Settings(run_dir=str(tmp_path), inventory="", ssh_config=str(tmp_path / "no-such-ssh-config"),
                        control_dir=str(tmp_path), blades={"r1-b01": {"console": None}}, nas="nas1",
                        options=RunOptions(hang_budget_s=600))  # fmt: skip
    return BladeSession("r1-b01", settings, remote=blade, console=console), blade  # type: ignore[arg-type]


def test_a_worker_asks_the_shared_prober_not_the_nas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: every worker ran its own ssh to the NAS per probe; past MaxSessions they read as 'NAS out'."""
    from swaplab.fleet import session as session_module

    s, _ = _session(tmp_path, "ok")
    calls: list[str] = []
    monkeypatch.setattr(session_module, "Remote", lambda *a, **k: calls.append("ssh") or pytest.fail("ssh'd"))
    p = nas_probe.NasProber(lambda: False, tmp_path / NAS_PROBE)
    p.step()
    assert nas_probe.alive(s.settings) is False and calls == []
    nas_probe.NasProber(lambda: True, tmp_path / NAS_PROBE).step()
    assert nas_probe.alive(s.settings) is True and calls == []


def test_a_load_lost_to_a_nas_outage_is_an_incident_naming_the_nas_and_no_power_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swaplab.fleet import loads

    monkeypatch.setattr(loads, "WRAP_UP_S", 1.0)
    monkeypatch.setattr(loads, "POLL_S", 0.1)
    s, _ = _session(tmp_path, "hang")  # the blade falls silent: its root and swap are on the frozen NAS
    monkeypatch.setattr(s, "power_cycle", lambda _d: pytest.fail("a blade silenced by its NAS was power-cycled"))
    prober = nas_probe.NasProber(lambda: False, tmp_path / NAS_PROBE)
    prober.step()
    with pytest.raises(InfraError) as e:
        s.load("hog-t1-nfs", "true", budget_s=1, use="nfs")
    text = str(e.value)
    assert "because the NAS nas1 did not answer from" in text and "(still out)" in text
    assert "one infrastructure incident, shared by every blade of this NAS" in text
    assert s.down is not None and "the NAS nas1 was out" in s.down


def test_the_prober_thread_starts_probes_and_stops(tmp_path: Path) -> None:
    """As `swaplab run` uses it: started, probing on its own, stopped within its bound (a thread whose stop
    broke Thread.join ended the first real run with an internal error)."""
    import time

    calls: list[float] = []
    p = nas_probe.NasProber(lambda: calls.append(time.monotonic()) or True, tmp_path / NAS_PROBE, every_s=0.1)
    p.start()
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    p.stop()
    assert not p.is_alive() and time.monotonic() - t0 < 2 and len(calls) >= 3
    st = nas_probe.read_state(tmp_path / NAS_PROBE)
    assert st is not None and st.alive and st.incidents == []


def test_a_load_that_finished_through_a_nas_outage_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load that finished while the NAS was out for most of it carries the outage (the hog suite then leaves
    the trial out of the ratio, an <error> naming the NAS); one the NAS answered through carries none. Before:
    a trial stretched by a 45 s outage counted, and the ratio gate failed the kernel on every blade of the
    simulated rack (5.6x)."""
    import time

    monkeypatch.setattr(nas_probe, "EVERY_S", 0.05)  # the prober's resolution: 0.1 s here
    monkeypatch.setattr(nas_probe, "TIMEOUT_S", 0.05)
    s, blade = _session(tmp_path, "ok")
    answer = blade.run

    def slow(command: str, *args: object, **kwargs: object) -> object:
        if "/state" in command:
            time.sleep(0.3)  # the load takes 0.3 s
        return answer(command, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(blade, "run", slow)
    report = s.load("hog-t1-nbd", "true", budget_s=30, use="nbd")
    assert report.outcome.status == "done" and report.nas_outage == ""
    p = nas_probe.NasProber(lambda: False, tmp_path / NAS_PROBE)
    p.step(now=time.time() - 5)  # out since 5 s ago, and still out
    report = s.load("hog-t1-nfs", "true", budget_s=30, use="nfs")
    assert report.outcome.status == "done" and "did not answer from" in report.nas_outage


def test_outages_during_lists_every_overlapping_incident(tmp_path: Path) -> None:
    answers = iter([False, True, False, True, False])
    p = nas_probe.NasProber(lambda: next(answers), tmp_path / NAS_PROBE)
    for t in (100.0, 110.0, 120.0, 130.0, 140.0):
        p.step(now=t)
    st = nas_probe.read_state(tmp_path / NAS_PROBE, now=141.0)
    assert st is not None
    assert st.outages_during(105.0, 125.0) == [(100.0, 110.0), (120.0, 130.0)]
    assert st.outages_during(111.0, 119.0) == []
    assert st.outages_during(135.0, 150.0) == [(140.0, None)]


@pytest.mark.parametrize("blocked_s, failed", [(20, False), (60, True)])
def test_a_task_blocked_on_the_frozen_nas_is_the_outages_not_the_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocked_s: int, failed: bool
) -> None:
    """The CI failure of 8904c10: a 300 s NAS pause under the NFS trial, and the blade reported systemd-journal
    blocked (its root is on the NAS) for 30, 61 and 92 s; the trial failed the kernel. A task that began blocking
    inside the outage the prober saw is a warning; one blocked before the outage began is still a failure."""
    import time

    s, blade = _session(tmp_path, "ok")
    answer = blade.run

    def stalled(command: str, *args: object, **kwargs: object) -> object:
        if "/state" in command:  # the load is running; uptime 300 is its start (the fake's t_start)
            blade.console.emit(f"[  305.000000] INFO: task systemd-journal:183 blocked for more than {blocked_s} "
                               "seconds.\r\n")  # fmt: skip
        return answer(command, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(blade, "run", stalled)
    # The prober saw the NAS out 5 s before the load started (uptime ~295; widened by its resolution, 280).
    nas_probe.NasProber(lambda: False, tmp_path / NAS_PROBE).step(now=time.time() - 5)
    report = s.load("hog-t1-nfs", "true", budget_s=30, use="nfs")
    assert report.outcome.status == "done"
    hung = [r for r in report.findings if r.kind == "hung_task"]
    if failed:  # blocked since uptime 245: before the NAS went away
        assert report.verdict.failures and report.verdict.failures[0].startswith("hung_task")
        assert hung and hung[0].severity == "fail" and s.outage_excused() == set()
    else:
        assert report.verdict.failures == []
        assert any("while the NAS was not answering" in w and "systemd-journal" in w for w in report.verdict.warnings)
        assert hung and hung[0].severity == "warn"
        assert s.outage_excused() == {("hung_task", hung[0].text, 305.0)}
