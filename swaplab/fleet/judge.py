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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from swaplab.detect import Finding

FAIL_KINDS = frozenset(
    {"hung_task", "soft_lockup", "hard_lockup", "rcu_stall", "swap_io_error", "nbd_error", "oops", "kernel_bug",
     "warning", "panic"}
)  # fmt: skip
WARN_KINDS = frozenset({"nfs_not_responding", "page_alloc_failure"})


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hog_oom_killed: bool = False
    nfs_outage_s: float = 0.0


def judge(
    findings: Iterable[Finding], hog_pids: frozenset[int] | set[int] = frozenset(), hog_oom_expected: bool = False
) -> Verdict:
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
