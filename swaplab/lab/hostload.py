"""The emulator's own stalls are not the kernel's: the host's CPU pressure and a blade QEMU's CPU time.

On a busy host a TCG vCPU can lose tens of seconds; the guest then reports RCU stalls or soft lockups
that the kernel under test did not cause. While a virtual blade runs a load, ``HostLoad`` samples once a
second the host's CPU pressure (/proc/pressure/cpu, ``some``: the share of time runnable tasks waited
for a CPU) and the blade QEMU's CPU time (/proc/PID/stat). ``starved(at)`` says whether the host was
starved in the minute before a moment; ``figures()`` gives the load's totals for the report.
Physical blades have no emulator: nothing is sampled for them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# A stall found while the host's runnable tasks waited this share of the preceding minute or more is
# the emulator's (the guest's RCU stall timeout under TCG is 60 s: see lab/machines.py).
STARVED_PCT = 25.0
WINDOW_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def psi_some_total_us(text: str) -> int | None:
    """``some ... total=N`` of /proc/pressure/cpu (microseconds), or None."""
    for line in text.splitlines():
        if line.startswith("some "):
            for word in line.split():
                if word.startswith("total="):
                    return int(word.removeprefix("total="))
    return None


def cpu_ticks(stat: str) -> int | None:
    """utime + stime of /proc/PID/stat (clock ticks), or None."""
    try:
        fields = stat[stat.rindex(")") + 2 :].split()
        return int(fields[11]) + int(fields[12])
    except (ValueError, IndexError):
        return None


@dataclass
class Sample:
    at: float  # wall clock
    psi_us: int | None
    qemu_ticks: int | None


@dataclass
class HostLoad:
    qemu_pid: int | None
    samples: list[Sample] = field(default_factory=list)
    starved_pct: float = STARVED_PCT

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="hostload")

    def sample(self) -> Sample:
        def read(path: str) -> str:
            try:
                return Path(path).read_text()
            except OSError:
                return ""

        psi = psi_some_total_us(read("/proc/pressure/cpu"))
        ticks = cpu_ticks(read(f"/proc/{self.qemu_pid}/stat")) if self.qemu_pid else None
        return Sample(time.time(), psi, ticks)

    def start(self) -> None:
        self.samples.append(self.sample())
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.samples.append(self.sample())

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(self.sample())

    def _pressure(self, start: float, end: float) -> float | None:
        inside = [s for s in self.samples if start <= s.at <= end and s.psi_us is not None]
        if len(inside) < 2 or inside[-1].at <= inside[0].at:
            return None
        waited = (inside[-1].psi_us or 0) - (inside[0].psi_us or 0)
        return 100.0 * waited / 1e6 / (inside[-1].at - inside[0].at)

    def starved(self, at: float) -> float | None:
        """The host's CPU pressure (%) in the minute before ``at``, if it was starved then (else None)."""
        pct = self._pressure(at - WINDOW_S, at + 1.0)
        return pct if pct is not None and pct >= self.starved_pct else None

    def last_at(self) -> float | None:
        return self.samples[-1].at if self.samples else None

    def figures(self) -> tuple[float | None, float | None, float]:
        """Over the load: the host's CPU pressure (%), the QEMU's CPU seconds, and the wall seconds."""
        if len(self.samples) < 2:
            return None, None, 0.0
        first, last = self.samples[0], self.samples[-1]
        wall = last.at - first.at
        cpu = ((last.qemu_ticks - first.qemu_ticks) / CLK_TCK
               if last.qemu_ticks is not None and first.qemu_ticks is not None else None)  # fmt: skip
        return self._pressure(first.at, last.at), cpu, wall
