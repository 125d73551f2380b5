"""What one load left behind, as the suites and reports read it: the ``LoadReport`` (the runner's outcome,
the kernel's verdict, attachments, findings with their times, recovery and fault), and the findings'
record form."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from swaplab.detect import Finding, scan_stream
from swaplab.fleet.judge import ExcuseKey, Outage, Verdict, excuse_key, in_window, judge
from swaplab.fleet.loads import LoadOutcome
from swaplab.records import FaultRecord, FindingRecord, LoadFigures, Recovery

EXCERPT_LINES = 6  # console lines kept each side of a finding


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
    first_contact: dict[str, Any] | None = None  # the blade's first contact, if this load took it (journaled)

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


def judge_load(blade: str, outcome: LoadOutcome, console_text: str, hog_pids: set[int], hog_oom_expected: bool,
               outages: list[Outage], excused: set[ExcuseKey]) -> tuple[list[Finding], LoadReport]:  # fmt: skip
    """A load's findings (its console slice, and the blade's dmesg within the load's uptime window) and its
    report with the kernel's verdict on them (``fleet.judge``)."""
    findings = scan(console_text.encode(), f"{blade}:console", "console")
    window = outcome.uptime_window()
    dmesg = outcome.files.get("dmesg.txt", b"")
    if dmesg and window:
        findings += in_window(scan(dmesg, f"{blade}:dmesg", "dmesg"), window[0], window[1] + 1)
    verdict = judge(findings, hog_pids, hog_oom_expected, outages, excused)
    attachments = [str(p) for p in sorted(outcome.local_dir.glob("*")) if p.is_file()]
    start = window[0] if window else None
    put_down = set(verdict.outage_excused)
    records = [finding_record(f, console_text, outcome.load_id, start, excuse_key(f) in put_down) for f in findings]
    return findings, LoadReport(outcome, verdict, attachments, records)
