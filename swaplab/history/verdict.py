"""Tonight against the nights before it and against the pinned release: what changed. Pure.

Per case (each blade's, night after night):

- ``new-failure``: it failed tonight for the first time, and its confirming rerun failed too;
- ``still-failing``: it has failed for N nights running (nights of infrastructure errors do not break
  the count, and do not extend it);
- ``fixed``: it passes tonight after failing;
- ``flaky``: it failed tonight, but its rerun passed, or the same kernel passed it on another night;
  shown with its failure rate over the nights read;
- ``known-issue``: it failed as a known issue describes (bug link, not expired): expected;
- ``infrastructure``: an ``<error>`` tonight: kept apart, never a regression.

Per metric (the ratio, then the hog times on each store): the change-point verdict of ``changepoint``
on the blade's series. Every regression names its **last good** and **first bad** kernel, the input a
bisection needs. The exit code: 1 for a new regression or a failure that goes on (case or metric), 2
for infrastructure errors alone, 0 otherwise (known issues included).
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import changepoint
from .facts import base_metric, higher_is_worse
from .known import KnownIssue
from .store import NightRef, SeriesData

JUDGED_METRICS = ("ratio", "hog.nfs.s", "hog.nbd.s")
REGRESSIONS = ("new-failure", "still-failing")
METRIC_REGRESSIONS = ("new-regression",)  # a metric's regression counts the night it is found; then it is shown


@dataclass
class CaseChange:
    rack: str
    blade: str
    case: str  # suite::name
    state: str
    message: str = ""
    nights: int = 0  # still-failing: for how many nights; flaky: nights read
    rate: float | None = None  # flaky: failures / nights measured
    last_good: NightRef | None = None
    first_bad: NightRef | None = None
    bug: str | None = None
    at_release: str | None = None  # the case's outcome on the release baseline's night

    def to_json(self) -> dict[str, Any]:
        return {
            "rack": self.rack,
            "blade": self.blade,
            "case": self.case,
            "state": self.state,
            "message": self.message,
            "nights": self.nights,
            "rate": self.rate,
            "bug": self.bug,
            "last_good": self.last_good.to_json() if self.last_good else None,
            "first_bad": self.first_bad.to_json() if self.first_bad else None,
            "at_release": self.at_release,
        }


@dataclass
class MetricChange:
    rack: str
    blade: str
    metric: str
    state: str  # changepoint states
    before: float | None = None
    after: float | None = None
    change_pct: float | None = None
    nights: int = 0
    last_good: NightRef | None = None
    first_bad: NightRef | None = None
    release_value: float | None = None
    tonight: float | None = None
    trend: list[tuple[int, float, float | None, float | None]] = field(default_factory=list)  # (night, value, ci)
    blades: tuple[str, ...] = ()  # a pooled series (``blade`` is "N blades of CLASS"): the blades in it

    def to_json(self) -> dict[str, Any]:
        return {
            "rack": self.rack,
            "blade": self.blade,
            "metric": self.metric,
            "state": self.state,
            "before": self.before,
            "after": self.after,
            "change_pct": self.change_pct,
            "nights": self.nights,
            "last_good": self.last_good.to_json() if self.last_good else None,
            "first_bad": self.first_bad.to_json() if self.first_bad else None,
            "release_value": self.release_value,
            "tonight": self.tonight,
            "trend": [list(p) for p in self.trend],
            "blades": list(self.blades),
        }


@dataclass
class Verdict:
    tonight: NightRef
    last_night: NightRef | None
    release: NightRef | None
    cases: list[CaseChange] = field(default_factory=list)
    metrics: list[MetricChange] = field(default_factory=list)
    new_findings: dict[str, list[str]] = field(default_factory=dict)  # blade -> finding kinds new tonight
    expired_known: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[CaseChange | MetricChange]:
        return [c for c in self.cases if c.state in REGRESSIONS] + [
            m for m in self.metrics if m.state in METRIC_REGRESSIONS
        ]

    @property
    def exit_code(self) -> int:
        if self.regressions:
            return 1
        return 2 if any(c.state == "infrastructure" for c in self.cases) else 0

    def changed(self) -> list[CaseChange | MetricChange]:
        """What a person is told about: everything but steady passes and steady metrics."""
        quiet = ("pass", "skipped", "steady", "too-few")
        return [c for c in self.cases if c.state not in quiet] + [m for m in self.metrics if m.state not in quiet]

    @property
    def digest(self) -> str:
        """What changed, in short: two nights with the same digest have nothing new to tell."""
        keys = sorted(f"{c.rack}/{c.blade}/{c.case}:{c.state}" for c in self.cases if c.state not in ("pass",))
        keys += sorted(
            f"{m.rack}/{m.blade}/{m.metric}:{'regressed' if m.state in METRIC_REGRESSIONS else m.state}"
            for m in self.metrics
            if m.state not in ("steady", "too-few")
        )
        keys = [k.replace(":still-failing", ":new-failure") for k in keys]  # a failure going on is not news
        return hashlib.sha256("\n".join(keys).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "tonight": self.tonight.to_json(),
            "last_night": self.last_night.to_json() if self.last_night else None,
            "release": self.release.to_json() if self.release else None,
            "exit_code": self.exit_code,
            "regressions": len(self.regressions),
            "cases": [c.to_json() for c in self.changed() if isinstance(c, CaseChange)],
            "metrics": [m.to_json() for m in self.metrics],
            "new_findings": self.new_findings,
            "expired_known_issues": self.expired_known,
        }


def judge(
    nights: list[NightRef],
    data: SeriesData,
    known: list[KnownIssue] | None = None,
    release: NightRef | None = None,
    today: str | None = None,
) -> Verdict:
    """The verdict on the last of ``nights`` (oldest first)."""
    tonight = nights[-1]
    v = Verdict(tonight=tonight, last_night=nights[-2] if len(nights) > 1 else None, release=release)
    order = [n.id for n in nights]
    by_id = {n.id: n for n in nights}
    known = known or []
    live = [k for k in known if today is None or k.expires.isoformat() >= today]
    v.expired_known = [f"{k.case} ({k.bug}, expired {k.expires})" for k in known if k not in live]
    per_series: dict[int, list[int]] = defaultdict(list)
    for sid, nid in data.cases:
        per_series[sid].append(nid)
    for sid, name in sorted(data.names.items(), key=lambda kv: (kv[1].rack, kv[1].blade, kv[1].name)):
        if name.kind == "case" and (sid, tonight.id) in data.cases:
            v.cases.append(_case(sid, name.rack, name.blade, name.name, order, by_id, data, live, release))
        elif name.kind == "metric" and base_metric(name.name) in JUDGED_METRICS and (sid, tonight.id) in data.metrics:
            v.metrics.append(_metric(sid, name.rack, name.blade, name.name, order, by_id, data, release))
    v.metrics += _pooled(data, order, by_id, tonight.id)
    _findings(v, nights, data)
    return v


def _pooled(data: SeriesData, order: list[int], by_id: dict[int, NightRef], tonight: int) -> list[MetricChange]:
    """Per rack, hardware class and metric with two blades or more measured tonight: one series of their
    pooled samples. A kernel's regression shows on every blade of a class at once, and B blades' pairs
    together have about 1/sqrt(B) of one blade's noise: a +10% step one blade cannot tell from noise in
    three nights, four blades tell on the first or second (bench/README.md). The samples are each blade's
    own relative to its level over the nights before tonight, so blades that differ by a constant do not
    widen the nights' intervals."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for sid, name in data.names.items():
        if name.kind == "metric" and base_metric(name.name) in JUDGED_METRICS and (sid, tonight) in data.metrics:
            groups[(name.rack, name.hw_class, name.name)].append(sid)
    out = []
    for (rack, hw, metric), sids in sorted(groups.items()):
        if len(sids) < 2:
            continue
        level = {}
        for sid in sids:
            before = [data.metrics[(sid, nid)].value for nid in order if nid != tonight and (sid, nid) in data.metrics]
            level[sid] = statistics.median(before) if before else data.metrics[(sid, tonight)].value
        measured = [nid for nid in order if any((sid, nid) in data.metrics for sid in sids)]
        per_blade = [[(data.metrics[(sid, nid)].samples or (data.metrics[(sid, nid)].value,))
                      if (sid, nid) in data.metrics else None for nid in measured] for sid in sids]  # fmt: skip
        samples = changepoint.pool(per_blade, [level[sid] for sid in sids])
        mv = changepoint.judge(samples, higher_is_worse=higher_is_worse(metric))
        m = MetricChange(rack, f"{len(sids)} blades of {hw}", metric, mv.state, nights=mv.nights_since,
                         blades=tuple(sorted(data.names[sid].blade for sid in sids)))  # fmt: skip
        if mv.shift is not None:
            typical = statistics.median(level.values())
            m.before, m.after = mv.shift.before * typical, mv.shift.after * typical
            m.change_pct = mv.shift.change_pct
            m.first_bad = by_id[measured[mv.shift.start]]
            m.last_good = by_id[measured[mv.shift.start - 1]] if mv.shift.start > 0 else None
        out.append(m)
    return out


def _case(
    sid: int,
    rack: str,
    blade: str,
    case: str,
    order: list[int],
    by_id: dict[int, NightRef],
    data: SeriesData,
    known: list[KnownIssue],
    release: NightRef | None,
) -> CaseChange:
    history = [(nid, data.cases[(sid, nid)]) for nid in order if (sid, nid) in data.cases]
    tonight_id, (outcome, rerun, message) = history[-1]
    tonight = by_id[tonight_id]
    at_release = data.cases.get((sid, release.id))[0] if release and (sid, release.id) in data.cases else None  # type: ignore[index]
    change = CaseChange(rack, blade, case, outcome, message=message, at_release=at_release)
    judged = [(nid, o) for nid, (o, _, _) in history if o in ("pass", "failure")]  # errors do not count either way
    if outcome == "error":
        change.state = "infrastructure"
        return change
    if outcome == "skipped":
        change.state = "skipped"
        return change
    streak = 0
    for _nid, o in reversed(judged):
        if o != "failure":
            break
        streak += 1
    before = judged[: len(judged) - streak]
    last_good = by_id[before[-1][0]] if before else None
    if outcome == "pass":
        earlier = judged[:-1]
        change.state = "fixed" if earlier and earlier[-1][1] == "failure" else "pass"
        if change.state == "fixed":
            fail_start = len(earlier)
            while fail_start > 0 and earlier[fail_start - 1][1] == "failure":
                fail_start -= 1
            change.first_bad = by_id[earlier[fail_start][0]]
            change.nights = len(earlier) - fail_start
        return change
    # a failure tonight
    first_bad = by_id[judged[len(judged) - streak][0]]
    change.last_good, change.first_bad, change.nights = last_good, first_bad, streak
    failures = sum(1 for _, o in judged if o == "failure")
    same_kernel_passed = any(o == "pass" and by_id[nid].package_sha256 == tonight.package_sha256 for nid, o in judged)
    if match := next((k for k in known if k.matches(blade, case, message)), None):
        change.state, change.bug = "known-issue", match.bug
    elif rerun == "pass" or same_kernel_passed:
        change.state, change.rate, change.nights = "flaky", failures / len(judged), len(judged)
    else:
        change.state = "new-failure" if streak == 1 else "still-failing"
    return change


def _metric(
    sid: int,
    rack: str,
    blade: str,
    metric: str,
    order: list[int],
    by_id: dict[int, NightRef],
    data: SeriesData,
    release: NightRef | None,
) -> MetricChange:
    measured = [nid for nid in order if (sid, nid) in data.metrics]
    samples = [data.metrics[(sid, nid)].samples or (data.metrics[(sid, nid)].value,) for nid in measured]
    mv = changepoint.judge(samples, higher_is_worse=higher_is_worse(metric))
    m = MetricChange(
        rack, blade, metric, mv.state, nights=mv.nights_since, tonight=data.metrics[(sid, measured[-1])].value
    )
    m.trend = (
        []
        if base_metric(metric) != "ratio"
        else [
            (
                by_id[nid].seq,
                data.metrics[(sid, nid)].value,
                data.metrics[(sid, nid)].ci95_low,
                data.metrics[(sid, nid)].ci95_high,
            )
            for nid in measured
        ]
    )
    if release is not None and (sid, release.id) in data.metrics:
        m.release_value = data.metrics[(sid, release.id)].value
    if mv.shift is not None:
        m.before, m.after, m.change_pct = mv.shift.before, mv.shift.after, mv.shift.change_pct
        m.first_bad = by_id[measured[mv.shift.start]]
        m.last_good = by_id[measured[mv.shift.start - 1]] if mv.shift.start > 0 else None
    return m


def _findings(v: Verdict, nights: list[NightRef], data: SeriesData) -> None:
    """Per blade, the finding kinds (fail and warn) tonight has that the last good night did not."""
    if len(nights) < 2:
        return
    tonight = nights[-1].id
    good = next((n.id for n in reversed(nights[:-1]) if n.exit_code == 0), nights[-2].id)
    for sid, name in data.names.items():
        if name.kind != "finding" or name.name.rsplit("/", 1)[-1] not in ("fail", "warn"):
            continue
        if data.findings.get((sid, tonight)) and not data.findings.get((sid, good)):
            v.new_findings.setdefault(name.blade, []).append(name.name.rsplit("/", 1)[0])
    for kinds in v.new_findings.values():
        kinds.sort()


def render(v: Verdict) -> str:
    """For a person: tonight's kernel, then what changed, the regressions first."""
    t = v.tonight
    lines = [f"night {t.seq} of lab {t.lab}: kernel {t.kernel_text()} ({t.finished})"]
    if v.last_night:
        lines.append(f"  last night: {v.last_night.seq}, kernel {v.last_night.kernel_text()}")
    if v.release:
        lines.append(f"  release baseline: night {v.release.seq}, kernel {v.release.kernel_text()}")
    changed = v.changed()
    if not changed:
        lines.append("no change since last night")
    for c in sorted(changed, key=lambda x: (x.state not in (*REGRESSIONS, *METRIC_REGRESSIONS), x.blade)):
        lines.append("  " + _line(c))
    for blade, kinds in sorted(v.new_findings.items()):
        lines.append(f"  {blade}: new findings tonight: {', '.join(kinds)}")
    for k in v.expired_known:
        lines.append(f"  known issue expired, counted again: {k}")
    word = {0: "no regression", 1: "REGRESSION", 2: "infrastructure errors only"}[v.exit_code]
    lines.append(f"verdict: {word} ({len(v.regressions)} regression(s))")
    return "\n".join(lines)


def _line(c: CaseChange | MetricChange) -> str:
    where = f"{c.blade}" if c.rack in ("", c.blade) else f"{c.rack}/{c.blade}"
    span = ""
    if c.state in ("improved", "fixed") and isinstance(c, MetricChange) and c.first_bad:
        span = f"; since {c.first_bad.kernel_text()}"
    elif c.last_good or c.first_bad:
        span = (
            f"; last good {c.last_good.kernel_text() if c.last_good else 'none in the history'}, first bad "
            f"{c.first_bad.kernel_text() if c.first_bad else '?'}"
        )
    if isinstance(c, CaseChange):
        extra = {
            "still-failing": f" for {c.nights} nights",
            "flaky": f" (failed {c.rate or 0:.0%} of {c.nights} nights)",
            "known-issue": f" ({c.bug})",
            "fixed": f" after {c.nights} night(s)",
        }.get(c.state, "")
        rel = f"; at the release: {c.at_release}" if c.at_release and c.state in REGRESSIONS else ""
        msg = f": {c.message.splitlines()[0][:160]}" if c.message and c.state not in ("fixed",) else ""
        return f"{c.state}: {where} {c.case}{extra}{msg}{span if c.state != 'fixed' else ''}{rel}"
    change = f" {c.before:.3g} -> {c.after:.3g} ({c.change_pct:+.1f}%)" if c.change_pct is not None else ""
    rel = f"; at the release {c.release_value:.3g}" if c.release_value is not None else ""
    return f"{c.state}: {where} {c.metric}{change}{span}{rel}"


def digest_json(v: Verdict) -> str:
    return json.dumps(v.to_json(), sort_keys=True)
