"""Change points in a blade's nightly series, by FD.io CSIT's detector, then each night's own interval.

1. jumpavg groups the nights into runs of one average each by minimum description length: a step is
   where describing the nights as two groups costs fewer bits than as one. It is given each night's
   mean, and estimates a group's spread from its nights, because nights differ by more than their own
   trial pairs say (the lab's night-to-night noise, about 9%, against a night's own 2-3%):
   bench/bench_detect.py measured jumpavg given the nights' samples instead, and it split on noise.
2. The step must then show in the samples themselves: Welch's interval (on the logs, as ``compare``)
   for the nights of the new group against those of the group before must exclude no change. A step
   that one noisy night makes, with samples that overlap, is not called.

No threshold is set by hand. Pure: no I/O. The figures are in bench/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jumpavg

from swaplab.report.compare import welch_log

MIN_NIGHTS = 3  # two nights are one comparison, not a series
WINDOW = 40  # nights judged: a step older than this is the series' level now (the release baseline keeps it)


@dataclass(frozen=True)
class Shift:
    """The last step in a series: the nights from ``start`` on average ``after``, those before ``before``."""

    start: int  # index of the first night of the last group
    before: float
    after: float
    worse: bool
    low_pct: float | None = None  # Welch's 95% interval of the change
    high_pct: float | None = None

    @property
    def change_pct(self) -> float:
        return 100.0 * (self.after - self.before) / self.before if self.before else 0.0


def last_shift(nights: Sequence[Sequence[float]], higher_is_worse: bool = True) -> Shift | None:
    """The step into the series' last group, or None when the nights are one group, too few, or the
    samples on either side overlap."""
    window = [list(v) for v in nights[-WINDOW:]]
    offset = len(nights) - len(window)
    if len(window) < MIN_NIGHTS or not all(window) or any(x <= 0 for v in window for x in v):
        return None
    groups = list(jumpavg.classify([sum(v) / len(v) for v in window]))
    if len(groups) < 2:
        return None
    start = sum(len(g) for g in groups[:-1])
    prev_start = start - len(groups[-2])
    before = [x for v in window[prev_start:start] for x in v]
    after = [x for v in window[start:] for x in v]
    _, low, high = welch_log(before, after)
    if low is None or high is None or low <= 0 <= high:
        return None
    b, a = groups[-2].stats.avg, groups[-1].stats.avg
    return Shift(start=offset + start, before=b, after=a, worse=(a > b) == higher_is_worse, low_pct=low,
                 high_pct=high)  # fmt: skip


@dataclass(frozen=True)
class MetricVerdict:
    state: str  # steady, new-regression, regressed, improved, too-few
    shift: Shift | None
    nights_since: int = 0  # nights in the changed group (1 on the night it is reported)


def judge(nights: Sequence[Sequence[float]], higher_is_worse: bool = True) -> MetricVerdict:
    """Tonight (the last night) against the nights before it."""
    if len(nights) < MIN_NIGHTS:
        return MetricVerdict("too-few", None)
    now = last_shift(nights, higher_is_worse)
    if now is None:
        return MetricVerdict("steady", None)
    since = len(nights) - now.start
    if not now.worse:
        return MetricVerdict("improved", now, since)
    before = last_shift(nights[:-1], higher_is_worse) if since > 1 else None
    new = before is None or before.start != now.start or not before.worse
    return MetricVerdict("new-regression" if new else "regressed", now, since)
