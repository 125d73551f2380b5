"""Change points in a blade's nightly series: Page's CUSUM on each night's mean against its own interval.

Every night enters with its samples (the trial pairs' ratios, the trials' times). On logs, each night has
a mean and a standard error from its own samples; the series since the last change has a level. Each
night's distance from that level is measured in its own interval, widened by the night-to-night spread
the series itself shows beyond the nights' intervals (a random-effects term, estimated from the series,
so a lab whose nights differ more than their trials say does not cry wolf). Page's CUSUM adds up those
distances past a reference of ``K`` and calls a change when the sum passes ``H``: a large step on its
first or second night, a smaller one once a few nights agree. The change starts on the night after the
sum last stood at zero; the level then restarts from there.

No threshold per metric is set by hand: ``K`` and ``H`` are the detector's own design, chosen on the
synthetic series of bench/bench_detect.py against the issue's targets. jumpavg (FD.io CSIT's grouping
by minimum description length) was measured first on the same series and missed them: its figures are in
bench/README.md. Pure: no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_NIGHTS = 2  # the least nights a level is taken from before a night is judged against it
WINDOW = 60  # nights judged: a change older than this is the series' level now (the release baseline keeps it)
RECENT = 20  # a change is looked for starting in the last this many nights (older ones were judged already)
C = 3.6  # how many standard errors the nights since a candidate start must stand from the level before it
PRIOR = 4.0  # how many pairs' worth of the series' typical spread a night's own is shrunk toward


@dataclass(frozen=True)
class Shift:
    """A change in a series: the nights from ``start`` on average ``after``, those before ``before``."""

    start: int  # index of the first night of the new level
    found: int  # index of the night the change was called on
    before: float
    after: float
    worse: bool

    @property
    def change_pct(self) -> float:
        return 100.0 * (self.after - self.before) / self.before if self.before else 0.0


def _night(samples: Sequence[float]) -> tuple[float, float | None]:
    """A night's mean of logs and its standard error (floats: ``statistics.stdev`` is exact and slow)."""
    logs = [math.log(x) for x in samples]
    k = len(logs)
    mean = sum(logs) / k
    if k < 2:
        return mean, None
    return mean, math.sqrt(max(0.0, sum((x - mean) ** 2 for x in logs) / (k - 1)) / k)


def shifts(nights: Sequence[Sequence[float]], higher_is_worse: bool = True) -> list[Shift]:
    """Every change called in the series (its last ``WINDOW`` nights), in order."""
    window = list(nights[-WINDOW:])
    offset = len(nights) - len(window)
    if len(window) <= MIN_NIGHTS or not all(window) or any(x <= 0 for v in window for x in v):
        return []
    stats = [_night(v) for v in window]
    known = [se for _, se in stats if se]
    typical = statistics.median(known) if known else 0.0
    means = [m for m, _ in stats]
    # A night's variance: its own standard error, shrunk toward the series' typical one (a night of three
    # pairs estimates its spread poorly), so one lucky tight night does not make a step out of noise.
    var = [((len(window[j]) - 1) * (se or typical) ** 2 + PRIOR * typical**2) / (len(window[j]) - 1 + PRIOR)
           for j, (_, se) in enumerate(stats)]  # fmt: skip
    cm, cm2, cv = [0.0], [0.0], [0.0]  # prefix sums: a level's mean, spread and variance in O(1)
    for m, v in zip(means, var, strict=True):
        cm.append(cm[-1] + m)
        cm2.append(cm2[-1] + m * m)
        cv.append(cv[-1] + v)
    out: list[Shift] = []
    seg, carried = 0, 0.0  # the current level's first night; the spread between nights learnt before it
    for i in range(MIN_NIGHTS, len(window)):
        best: tuple[float, int, float, float] | None = None
        # A first level needs MIN_NIGHTS nights; a level after a change is judged from its first night on,
        # with the night-to-night spread learnt before the change (a regression that went away is seen the
        # next night).
        least = MIN_NIGHTS if seg == 0 else 1
        for start in range(max(seg + least, i - RECENT + 1), i + 1):
            n = start - seg
            level = (cm[start] - cm[seg]) / n
            within = (cv[start] - cv[seg]) / n
            spread = max(0.0, (cm2[start] - cm2[seg] - n * level * level) / (n - 1)) if n > 1 else within
            tau2 = max(carried, spread - within) if n < MIN_NIGHTS + 2 else max(0.0, spread - within)
            m = i + 1 - start
            post = (cm[i + 1] - cm[start]) / m
            post_var = ((cv[i + 1] - cv[start]) / m + tau2) / m
            z = (post - level) / math.sqrt(post_var + (within + tau2) / n) if post_var > 0 else 0.0
            if best is None or abs(z) > abs(best[0]):
                best = (z, start, level, post)
        if best is not None and abs(best[0]) > C:
            z, start, level, post = best
            before, after = math.exp(level), math.exp(post)
            out.append(Shift(offset + start, offset + i, before, after, worse=(after > before) == higher_is_worse))
            if seg == 0 or start - seg >= MIN_NIGHTS:
                n = start - seg
                level = (cm[start] - cm[seg]) / n
                within = (cv[start] - cv[seg]) / n
                spread = max(0.0, (cm2[start] - cm2[seg] - n * level * level) / (n - 1)) if n > 1 else within
                carried = max(0.0, spread - within)
            seg = start
    return out


def pool(blades: Sequence[Sequence[Sequence[float] | None]], levels: Sequence[float]) -> list[list[float]]:
    """Several blades' series as one: each night the samples of every blade measured that night, each
    relative to its blade's ``level`` (so blades that differ by a constant factor do not widen a night's
    interval). ``blades[b][n]`` is blade b's samples on night n, None where it was not measured; nights
    no blade measured are left out."""
    nights = max((len(b) for b in blades), default=0)
    out = []
    for n in range(nights):
        night = [x / level for b, level in zip(blades, levels, strict=True) if n < len(b) for x in b[n] or ()]
        if night:
            out.append(night)
    return out


@dataclass(frozen=True)
class MetricVerdict:
    state: str  # steady, new-regression, regressed, improved, fixed (a regression gone), too-few
    shift: Shift | None
    nights_since: int = 0  # nights since the change started


def judge(nights: Sequence[Sequence[float]], higher_is_worse: bool = True) -> MetricVerdict:
    """Tonight (the last night): a change called tonight is new; an earlier one in the window is the state."""
    if len(nights) <= MIN_NIGHTS:
        return MetricVerdict("too-few", None)
    found = shifts(nights, higher_is_worse)
    if not found:
        return MetricVerdict("steady", None)
    last = found[-1]
    since = len(nights) - last.start
    if not last.worse:
        back = len(found) > 1 and found[-2].worse  # a regression that went away
        return MetricVerdict("fixed" if back else "improved", last, since)
    return MetricVerdict("new-regression" if last.found == len(nights) - 1 else "regressed", last, since)


def last_shift(nights: Sequence[Sequence[float]], higher_is_worse: bool = True) -> Shift | None:
    found = shifts(nights, higher_is_worse)
    return found[-1] if found else None
