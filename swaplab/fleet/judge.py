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

User processes that die of faults in their own memory (segfaults, general protection faults, traps, PID 1's
crash handler) are one failure, named with the processes and counted: on a blade under swap, a process that
crashes is most likely one whose pages came back from swap not as they went out (the classic
swap-over-network bug), and a dozen crash lines are one problem, not a dozen.
"""

from __future__ import annotations

import signal
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from swaplab.detect import RULES, Finding
from swaplab.records import FindingRecord

# From the detector's rules (their severity), not a table of their own. An OOM kill is judged by whose it was.
FAIL_KINDS = frozenset(r.kind for r in RULES if r.severity == "fail") - {"oom_kill"}
WARN_KINDS = frozenset(r.kind for r in RULES if r.severity == "warn")
OUTAGE_GRACE_S = 120.0
CRASHES_NAMED = 6  # processes named in the userspace-crash failure; the rest are counted

Outage = tuple[float, float]  # (start, end) in the blade's uptime seconds
ExcuseKey = tuple[str, str, float]  # (kind, text, timestamp): one report, wherever it is read again


def excuse_key(f: Finding) -> ExcuseKey | None:
    ts = f.fields.get("timestamp")
    return None if ts is None else (f.kind, f.text, float(ts))


def excused_before(prior: Iterable[object]) -> set[ExcuseKey]:
    """The hung-task reports an interrupted run's loads put down to a NAS outage (warnings in its records)."""
    return {(r.kind, r.text, r.kernel_time_s) for r in prior if isinstance(r, FindingRecord)
            and r.kind == "hung_task" and r.severity == "warn" and r.kernel_time_s is not None}  # fmt: skip


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
    crashes: list[Finding] = []
    crash_at = 0  # where among the failures the crash summary goes: where the first crash came
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
        elif f.kind == "userspace_crash":
            crash_at = crash_at if crashes else len(v.failures)
            crashes.append(f)
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
    if crashes:
        v.failures.insert(crash_at, crash_summary(crashes))
    return v


def crash_summary(crashes: Sequence[Finding]) -> str:
    """One failure for a load's userspace crashes: how many, which processes and how each died, where the
    first was, and what it most likely means."""
    named = [f"{c.fields.get('comm', '?')}[{c.fields.get('pid', '?')}] {c.fields.get('what', 'crashed')}"
             for c in crashes[:CRASHES_NAMED]]  # fmt: skip
    more = f" and {len(crashes) - CRASHES_NAMED} more" if len(crashes) > CRASHES_NAMED else ""
    span = ""
    times = [float(c.fields["timestamp"]) for c in crashes if c.fields.get("timestamp") is not None]
    if len(times) > 1:
        span = f" within {max(times) - min(times):.0f} s"
    first = crashes[0]
    return (f"userspace_crash ({first.source}:{first.line}): {len(crashes)} user process(es) died of faults in "
            f"their own memory{span}: {', '.join(named)}{more}; memory corruption suspected (pages that came "
            "back from swap not as they went out)")  # fmt: skip


def in_window(findings: Iterable[Finding], start: float, end: float) -> list[Finding]:
    """Findings whose kernel timestamp lies in [start, end] (uptime seconds); untimed ones are kept."""
    out = []
    for f in findings:
        ts = f.fields.get("timestamp")
        if ts is None or start <= float(ts) <= end:
            out.append(f)
    return out


@dataclass(frozen=True)
class LoadDecision:
    """Whose a load's end is: the one place a load is called the kernel's failure or the lab's.

    ``kind``: "judged" (it finished: the verdict's failures, if any, are the kernel's; ``recover`` says why the
    blade is power-cycled all the same), "recover" (the live watch ended it, hung, panicked or crashed, or its
    progress stood still: a kernel failure, and the blade is to be power-cycled), "kernel" (it
    did not finish and the kernel log says why: a kernel failure, and the blade is down), "infra" (swaplab
    could not test the blade: a JUnit <error> with ``message``). ``down``: why the blade's later tests
    error at once ("" clears it, None leaves it as it was)."""

    kind: str
    down: str | None = None
    message: str = ""
    recover: str = ""  # "judged", yet the blade is power-cycled before its next case: why (its memory went bad)


@dataclass(frozen=True)
class LoadEnd:
    """What ``decide`` needs to know of a load's end (all plain facts, gathered by the blade session)."""

    blade: str
    load_id: str
    status: str  # the runner's: done, hung, panic, timeout, ...
    watched: bool  # a live console watch ran (it ends a load as "hung" or "panic")
    budget_s: int
    seconds: float
    console_tail: str = ""
    last_error: str = ""  # the last ssh error while polling
    fetch_error: str = ""  # a finished load whose files came back incomplete
    memory_bad: str = ""  # a finished load that left the blade's memory untrustworthy (``memory_bad``): why
    nas: str = ""  # the NAS's name, and how its prober saw it fail during the load ("" if it answered)
    nas_outage: str = ""
    emulator_stall: str | None = None  # why the load's stalls are the emulator's (``fleet.emulator``), if they are


def decide(end: LoadEnd, verdict: Verdict) -> LoadDecision:
    """Whose the load's end is, given its kernel verdict. Appends the watch's reason to a hung load's failures."""
    if end.emulator_stall:
        return LoadDecision("infra", down="", message=end.emulator_stall)
    if end.watched and end.status in ("panic", "hung", "crashed"):
        return LoadDecision("recover")
    if end.status == "stalled":
        if end.nas_outage:  # the NAS was out while the hog stood still: the outage's, not the kernel's
            return LoadDecision("infra", down="", message=f"{end.blade}: load {end.load_id} stood still while the "
                                f"NAS {end.nas} {end.nas_outage}: not this blade's failure")  # fmt: skip
        return LoadDecision("recover")
    if end.status != "done":
        if verdict.failures:
            return LoadDecision("kernel", down=f"{end.load_id} (kernel failure: {verdict.failures[0][:200]})")
        if end.nas_outage:
            down = f"the NAS {end.nas} was out: {end.nas_outage}"
            why = (f"because the NAS {end.nas} {end.nas_outage}: one infrastructure incident, shared by every blade "
                   "of this NAS, not this blade's failure (no power-cycle was done)")  # fmt: skip
        else:
            down = f"no answer within {end.budget_s} s"
            why = f"(+{int(end.seconds - end.budget_s)} s grace); last ssh error: {end.last_error or 'none'}"
        return LoadDecision("infra", down=f"{end.load_id} ({down})",
                            message=f"{end.blade}: load {end.load_id} did not come back within its budget of "
                            f"{end.budget_s} s {why}; console tail:\n{end.console_tail}")  # fmt: skip
    if end.fetch_error and not verdict.failures:
        return LoadDecision("infra", message=f"{end.blade}: load {end.load_id} finished, but its results could not "
                                             f"be fetched whole: {end.fetch_error}")  # fmt: skip
    if end.memory_bad:  # finished, but what the blade holds in memory cannot be trusted for its next case
        return LoadDecision("judged", recover=end.memory_bad)
    return LoadDecision("judged")


def memory_bad(verdict: Verdict, hog_result: dict[str, Any]) -> str:
    """Why a finished load leaves its blade's memory untrustworthy ("" if it does not): pages of the hog's that
    came back from swap wrong, or processes that died of faults in their own memory. Such a blade is
    power-cycled before its next case, as a crashed one is."""
    bad = hog_result.get("bad_pages")
    if isinstance(bad, int) and not isinstance(bad, bool) and bad > 0:
        return f"swap corruption: {bad} page(s) of the hog came back from swap wrong"
    if any(f.startswith("userspace_crash") for f in verdict.failures):
        return "user processes died of faults in their own memory (memory corruption suspected)"
    return ""


def health_problems(verdict: Verdict, start: dict[str, int], now: dict[str, int]) -> list[str]:
    """The whole run's kernel problems: the log's failures, a kernel that became tainted, OOM kills the log
    does not put down to a hog (``start``: the counters at first contact; ``now``: at the end)."""
    problems = list(verdict.failures)
    if new_taint := now.get("tainted", 0) & ~start.get("tainted", 0):
        problems.append(f"the kernel became tainted during the run (new taint bits {new_taint:#x})")
    if (ooms := now.get("oom_kill", 0) - start.get("oom_kill", 0)) and not verdict.hog_oom_killed:
        problems.append(f"oom_kill grew by {ooms} and the log names no hog")
    return problems


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def hog_problems(result: dict[str, Any], rc: int | None, progress: str, stderr: str) -> list[str]:
    """What is wrong with a hog's result (``hog.json``): none, not done, pages that came back wrong, or a
    working set that did not go through swap (pswpout below the excess over RAM, pswpin that did not grow)."""
    if not result:
        died = ""
        if rc is not None and 128 < rc < 128 + 65:  # the shell's status for a process a signal killed
            name = signal_name(rc - 128)
            died = f"; killed by {name}" + (" (memory it touched could not be read back: swap-in failed)"
                                            if name == "SIGBUS" else "")  # fmt: skip
        return [f"the hog left no result (rc {rc}{died}; progress {progress}; stderr {stderr[-300:]})"]
    if result.get("status") != "done":
        return [f"the hog ended {result.get('status')}"]
    if bad := result.get("bad_pages", 0):
        listed = [b for b in result.get("first_bad", []) if isinstance(b, dict)]
        named = "; ".join(f"page {b.get('page')} held {b.get('holds', 'other bytes')}" for b in listed[:4])
        return [f"swap corruption: {bad} page(s) of the hog's working set came back from swap not as they went out"
                + (f" ({named}{'; ...' if len(listed) > 4 else ''})" if named else "")
                + " (hog.json has the first one's bytes)"]  # fmt: skip
    delta = result["vmstat_delta"]
    excess_pages = max(0, (result["mib"] << 20) - result["mem_total_kib"] * 1024) // result["page_size"]
    problems = []
    if delta["pswpout"] < excess_pages:
        problems.append(f"pswpout grew by {delta['pswpout']} pages, less than the {excess_pages} pages the working "
                        "set exceeds RAM by: the working set did not go through swap")  # fmt: skip
    if delta["pswpin"] <= 0:
        problems.append("pswpin did not grow: nothing came back from swap")
    return problems
