"""What a load's kernel log means (pure): failures, warnings, and facts worth reporting.

The rule is the issue's: fail on an OOM kill of anything but the hog (or of the
hog unless the test expects it), a hung task, a lockup, an RCU stall, a swap
I/O error, an NBD error, an oops, BUG, WARN or panic; report NFS "not
responding" as a warning with its duration, and allocation failures as warnings.

That duration is the kernel's: from its first "not responding" to "OK". The
NFS client reports a stalled server only after a major timeout (with TCP's
defaults timeo=600,retrans=2: 60 + 120 s), so a 200 s NAS stall shows as
~20 s (golden log ``lab-6.1-blade-nas-paused-200s``); shorter stalls show as
nothing at all, only as time.

A hung task while the NAS was out is the outage's, not the kernel's: with the root and swap on a hard
NFS mount, every task that waits on the server blocks until it is back, and the kernel says so after
``hung_task_timeout_secs``. Such a report is a warning when its task began blocking inside an outage the
run's NAS prober saw (``outages``: uptime windows, already widened by the prober's resolution) and was
reported no later than ``OUTAGE_GRACE_S`` after the NAS answered again (the NFS client retransmits
after up to ``timeo`` = 60 s, then the hung-task check runs every 30 s). A task blocked before the
outage began, or still blocked past the grace, is the kernel's failure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from swaplab.detect import Finding

FAIL_KINDS = frozenset(
    {"hung_task", "soft_lockup", "hard_lockup", "rcu_stall", "swap_io_error", "nbd_error", "oops", "kernel_bug",
     "warning", "panic"}
)  # fmt: skip
WARN_KINDS = frozenset({"nfs_not_responding", "page_alloc_failure"})
OUTAGE_GRACE_S = 120.0

Outage = tuple[float, float]  # (start, end) in the blade's uptime seconds
ExcuseKey = tuple[str, str, float]  # (kind, text, timestamp): one report, wherever it is read again


def excuse_key(f: Finding) -> ExcuseKey | None:
    ts = f.fields.get("timestamp")
    return None if ts is None else (f.kind, f.text, float(ts))


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hog_oom_killed: bool = False
    nfs_outage_s: float = 0.0
    outage_excused: list[ExcuseKey] = field(default_factory=list)  # findings put down to a NAS outage


def during_outage(f: Finding, outages: Sequence[Outage]) -> Outage | None:
    """The NAS outage a hung-task report belongs to (see the module's rule), or None."""
    ts, blocked = f.fields.get("timestamp"), f.fields.get("seconds")
    if f.kind != "hung_task" or ts is None or blocked is None:
        return None
    since = float(ts) - float(blocked)
    for start, end in outages:
        if start <= since and float(ts) <= end + OUTAGE_GRACE_S:
            return start, end
    return None


def judge(
    findings: Iterable[Finding],
    hog_pids: frozenset[int] | set[int] = frozenset(),
    hog_oom_expected: bool = False,
    outages: Sequence[Outage] = (),
    excused: Collection[ExcuseKey] = frozenset(),
) -> Verdict:
    """``outages``: the NAS's outages in this log's uptime; ``excused``: reports a load's judgement already put
    down to one (the whole run's log, read again by the health suite, spans reboots: uptimes repeat)."""
    v = Verdict()
    seen: set[tuple[str, str]] = set()
    for f in findings:
        key = (f.kind, f.text)
        if key in seen:  # the console and dmesg both carry most lines
            continue
        seen.add(key)
        where = f"{f.source}:{f.line}"
        if f.kind == "oom_kill" and f.severity == "fail":
            pid = f.fields.get("pid")
            if pid in hog_pids:
                v.hog_oom_killed = True
                if not hog_oom_expected:
                    v.failures.append(f"the memory hog was OOM-killed ({where}): {f.text}")
            else:
                v.failures.append(
                    f"OOM kill of {f.fields.get('comm', '?')} (pid {pid}), not the hog ({where}): {f.text}"
                )
        elif (outage := during_outage(f, outages)) or excuse_key(f) in excused:
            span = f" (uptime {outage[0]:.0f} to {outage[1]:.0f} s)" if outage else ""
            v.warnings.append(f"{f.kind} ({where}) while the NAS was not answering{span}, a task waiting on it, "
                              f"not the kernel's failure: {f.text}")  # fmt: skip
            v.outage_excused += [k for k in [excuse_key(f)] if k is not None]
        elif f.kind in FAIL_KINDS:
            v.failures.append(f"{f.kind} ({where}): {f.text}")
        elif f.kind == "nfs_recovered" and "outage_seconds" in f.fields:
            v.nfs_outage_s += float(f.fields["outage_seconds"])
            v.warnings.append(
                f"NFS server {f.fields.get('server')}: 'not responding' for {f.fields['outage_seconds']} s until 'OK' "
                "(the kernel says so only after its major timeout, 180 s at timeo=600,retrans=2: "
                "the server stalled longer)"
            )
        elif f.kind in WARN_KINDS:
            v.warnings.append(f"{f.kind} ({where}): {f.text}")
    return v


def in_window(findings: Iterable[Finding], start: float, end: float) -> list[Finding]:
    """Findings whose kernel timestamp lies in [start, end] (uptime seconds); untimed ones are kept."""
    out = []
    for f in findings:
        ts = f.fields.get("timestamp")
        if ts is None or start <= float(ts) <= end:
            out.append(f)
    return out
