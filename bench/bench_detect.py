#!/usr/bin/env python3
"""How well the history's change-point verdict finds a step in a blade's nightly ratio, and how often it cries wolf.

Synthetic series shaped like the lab's: 60 nights; each night's trial pairs drawn with a coefficient of
variation of 9% around the blade's level, as many pairs as a default run takes (``--trials 3
--precision 10 --max-trials 10``: pairs are added until the ratio's 95% interval is within 10%); and,
with ``--night-cv``, a night-to-night drift of the level on top (default 0). A step of +10% (or +25%)
starts at night 40. bench/README.md says why the 9% is a trial pair's, not a night's: at 9% between
nights, no detector can find a 10% step within 3 nights 95% of the time below one false alarm in 100.
The verdict is asked every night, as a nightly job would (``swaplab.history.changepoint.judge`` on the
nights so far), and each night it says ``new-regression`` is an alarm. The issue's targets:

- a +10% step reported within 3 nights (night 40, 41 or 42) for at least 95% of 200 seeds;
- at most 1 false alarm per 100 nights without a step;
- a +25% step reported on its first or second night.

``--blades B`` judges B blades of one class pooled into one series, as the verdict does for a rack
(``swaplab.history.verdict._pooled``): each blade its own noise, the kernel's step on all of them.
``--detector jumpavg`` asks FD.io CSIT's jumpavg instead (on the nights' means; a change is new on the night
it first shows), the reference swaplab's detector was chosen against. Prints one line per scenario;
``--json`` writes the figures. Pure computation, one core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from swaplab.history import changepoint

NIGHTS, STEP_AT, PAIR_CV, MIN_PAIRS, MAX_PAIRS, PRECISION = 60, 40, 0.09, 3, 10, 0.10
NIGHT_CV = 0.0  # --night-cv


def _pairs(rng: random.Random, level: float) -> list[float]:
    """A night's trial pairs, added as the run's --precision rule adds them (swaplab.stats' t interval)."""
    from swaplab.stats import t95

    out = [level * max(0.2, rng.gauss(1.0, PAIR_CV)) for _ in range(MIN_PAIRS)]
    while len(out) < MAX_PAIRS:
        logs = [math.log(x) for x in out]
        half = t95(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
        if math.exp(half) - 1 <= PRECISION:
            break
        out.append(level * max(0.2, rng.gauss(1.0, PAIR_CV)))
    return out


def series(seed: int, step: float, nights: int = NIGHTS, step_at: int = STEP_AT) -> list[list[float]]:
    rng = random.Random(seed)  # noqa: S311 - synthetic noise, not a secret
    out = []
    for n in range(1, nights + 1):
        level = 1.2 * (1 + step if n >= step_at else 1.0) * max(0.2, rng.gauss(1.0, NIGHT_CV) if NIGHT_CV else 1.0)
        out.append(_pairs(rng, level))
    return out


@dataclass
class Outcome:
    first_alarm: int | None  # the night (1-based) of the first alarm at or after the step
    false_alarms: int  # alarms before the step (or anywhere, without one)
    nights_watched: int


def _value(samples: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in samples) / len(samples))


def pooled(blades: list[list[list[float]]], n: int) -> list[list[float]]:
    """The first ``n`` nights of several blades' series as the verdict pools them (``verdict._pooled``):
    each blade relative to the median of its nights' values before night ``n``."""
    levels = [statistics.median([_value(v) for v in b[: n - 1]] or [_value(b[n - 1])]) for b in blades]
    return changepoint.pool([b[:n] for b in blades], levels)


def watch(nights: list[list[float]] | list[list[list[float]]], step_at: int | None) -> Outcome:
    """Ask the verdict every night; ``nights`` is one blade's series, or (``--blades``) several blades'."""
    first, false = None, 0
    rack = isinstance(nights[0][0], list)
    count = len(nights[0]) if rack else len(nights)
    for n in range(changepoint.MIN_NIGHTS, count + 1):
        v = changepoint.judge(pooled(nights, n) if rack else nights[:n])  # type: ignore[arg-type]
        if v.state != "new-regression":
            continue
        if step_at is None or n < step_at:
            false += 1
        elif first is None:
            first = n
    watched = (step_at - 1 if step_at else count) - changepoint.MIN_NIGHTS + 1
    return Outcome(first, false, watched)


def scenario(step: float, seeds: range, blades: int = 1) -> dict[str, float]:
    t = time.monotonic()
    if blades == 1:
        outs = [watch(series(s, step), STEP_AT if step else None) for s in seeds]
    else:  # a rack's blades of one class: each its own noise, the same kernel's step on all of them
        outs = [watch([series(s * 1000 + b, step) for b in range(blades)], STEP_AT if step else None) for s in seeds]
    nights = sum(o.nights_watched for o in outs)
    res: dict[str, float] = {"step_pct": 100 * step, "seeds": len(outs), "blades": blades,
                             "false_alarms_per_100_nights": round(100 * sum(o.false_alarms for o in outs) / nights, 3),
                             "seconds": round(time.monotonic() - t, 1)}  # fmt: skip
    if step:
        delays = [o.first_alarm - STEP_AT for o in outs if o.first_alarm is not None]
        res["found_within_3_nights_pct"] = round(100 * sum(1 for d in delays if d <= 2) / len(outs), 1)
        res["found_within_2_nights_pct"] = round(100 * sum(1 for d in delays if d <= 1) / len(outs), 1)
        res["never_found_pct"] = round(100 * (len(outs) - len(delays)) / len(outs), 1)
    return res


def use_jumpavg() -> None:
    """Judge with jumpavg's grouping of the nights' means (the last group against the one before)."""
    import jumpavg

    def shifts(nights: list[list[float]]) -> list[changepoint.Shift]:
        window = nights[-changepoint.WINDOW :]
        if len(window) <= changepoint.MIN_NIGHTS:
            return []
        groups = list(jumpavg.classify([sum(v) / len(v) for v in window]))
        out, start = [], len(nights) - len(window)
        for a, b in itertools.pairwise(groups):
            start += len(a)
            out.append(changepoint.Shift(start, start, a.stats.avg, b.stats.avg, worse=b.stats.avg > a.stats.avg))
        return out

    def judge(nights: list[list[float]], higher_is_worse: bool = True) -> changepoint.MetricVerdict:
        now, before = shifts(nights), shifts(nights[:-1])
        if not now or not now[-1].worse:
            return changepoint.MetricVerdict("steady", None)
        new = not before or before[-1].start != now[-1].start or not before[-1].worse
        return changepoint.MetricVerdict("new-regression" if new else "regressed", now[-1])

    changepoint.judge = judge  # type: ignore[assignment]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--night-cv", type=float, default=0.0, help="night-to-night drift of the level (e.g. 0.03)")
    ap.add_argument("--detector", choices=["swaplab", "jumpavg"], default="swaplab")
    ap.add_argument("--blades", type=int, default=1, help="blades of one class pooled, as the verdict pools them")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    global NIGHT_CV
    NIGHT_CV = args.night_cv
    if args.detector == "jumpavg":
        use_jumpavg()
    rows = [scenario(step, range(args.seeds), args.blades) for step in (0.0, 0.10, 0.25)]
    for r in rows:
        print(json.dumps(r))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
