"""The emulator's own stalls: host CPU pressure and QEMU CPU time, read from this machine's real /proc, and the
rule that turns a stall coinciding with starvation into an infrastructure error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swaplab.detect.detector import Finding
from swaplab.fleet.emulator import emulator_stall
from swaplab.fleet.judge import LoadEnd, Verdict, decide
from swaplab.lab.hostload import HostLoad, Sample, cpu_ticks, psi_some_total_us


def test_the_readers_read_this_machines_proc() -> None:
    psi = Path("/proc/pressure/cpu")
    if not psi.exists():
        pytest.skip("this kernel has no PSI")
    assert (psi_some_total_us(psi.read_text()) or -1) >= 0
    assert (cpu_ticks(Path(f"/proc/{os.getpid()}/stat").read_text()) or -1) >= 0
    hl = HostLoad(os.getpid())
    hl.start()
    hl.stop()
    pressure, cpu, wall = hl.figures()
    assert pressure is not None and 0 <= pressure <= 100 * os.cpu_count() and cpu is not None and wall >= 0


def _hostload(pressure_pct: float) -> HostLoad:
    hl = HostLoad(None)
    # 61 samples a second apart; the host's runnable tasks waited pressure_pct of each second.
    hl.samples = [Sample(1000.0 + i, int(i * pressure_pct * 1e4), 100 * i // 3) for i in range(61)]
    return hl


STALL = Finding(kind="rcu_stall", severity="fail", source="blade1:console", line=3,
                text="rcu: INFO: rcu_preempt self-detected stall on CPU")  # fmt: skip


def test_a_stall_while_the_host_starved_is_the_emulators(tmp_path: Path) -> None:
    hl = _hostload(60.0)
    assert hl.starved(1060.0) == pytest.approx(60.0)
    why = emulator_stall("blade1", "hog-t1-nfs", [STALL], [], hl, tmp_path / "load")
    assert why is not None and "rcu_stall during hog-t1-nfs coincide with the emulator's starvation" in why
    assert "host_cpu_pressure_before_pct" in (tmp_path / "load" / "host-load.json").read_text()
    # Whose it is: the lab's (an <error>), and the blade is not left down.
    end = LoadEnd("blade1", "hog-t1-nfs", "done", True, 100, 50.0, emulator_stall=why)
    decision = decide(end, Verdict(failures=["rcu_stall (blade1:console:3): ..."]))
    assert decision.kind == "infra" and decision.down == "" and decision.message == why


def test_a_stall_on_a_quiet_host_or_beside_another_failure_stays_the_kernels(tmp_path: Path) -> None:
    assert emulator_stall("blade1", "hog-t1-nfs", [STALL], [], _hostload(5.0), tmp_path) is None  # quiet host
    oops = Finding(kind="oops", severity="fail", source="blade1:console", line=9, text="Oops: 0000 [#1] SMP")
    assert emulator_stall("blade1", "hog-t1-nfs", [STALL, oops], [], _hostload(80.0), tmp_path) is None  # an oops
