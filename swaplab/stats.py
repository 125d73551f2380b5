"""The NFS/NBD ratio and its confidence interval (pure).

Trials are interleaved (NFS, NBD, NFS, NBD, ...), so trial *i* of each store
ran under the same conditions; the ratio is taken per pair and averaged on the
log scale (a ratio's natural scale), and the 95% interval is Student's t on the
log ratios, mapped back. One pair gives a point estimate and no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 95% Student t quantiles, by degrees of freedom (1..30); normal beyond.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t95(df: int) -> float:
    if df < 1:
        raise ValueError("a t interval needs at least 2 samples")
    return _T95[df - 1] if df <= len(_T95) else 1.960


@dataclass(frozen=True)
class Ratio:
    ratio: float
    low: float | None
    high: float | None
    pairs: int
    per_pair: tuple[float, ...]

    @property
    def half_width_pct(self) -> float | None:
        """Half the interval's width relative to the ratio, in percent."""
        if self.low is None or self.high is None:
            return None
        return 100.0 * (self.high - self.low) / 2 / self.ratio


def paired_ratio(numer: list[float], denom: list[float]) -> Ratio:
    """Geometric-mean ratio numer/denom over paired trials, with its 95% interval."""
    pairs = min(len(numer), len(denom))
    if pairs == 0:
        raise ValueError("no complete pair of trials")
    if any(x <= 0 for x in numer[:pairs] + denom[:pairs]):
        raise ValueError("trial times must be positive")
    per_pair = tuple(n / d for n, d in zip(numer[:pairs], denom[:pairs], strict=False))
    logs = [math.log(r) for r in per_pair]
    mean = sum(logs) / pairs
    if pairs < 2:
        return Ratio(math.exp(mean), None, None, pairs, per_pair)
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (pairs - 1))
    half = t95(pairs - 1) * sd / math.sqrt(pairs)
    return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), pairs, per_pair)


def paired_times(trials: list[tuple[int, str, float]]) -> tuple[list[float], list[float]]:
    """The NFS and NBD times of the complete pairs, matched by trial number, in trial order.

    ``trials`` are (trial, store, seconds) of finished trials. A pair one of whose trials failed is left
    out whole: pairing by position would match trial 3's NFS time with trial 2's NBD time.
    """
    by_trial: dict[int, dict[str, float]] = {}
    for trial, store, seconds in trials:
        by_trial.setdefault(trial, {})[store] = seconds
    complete = [by_trial[t] for t in sorted(by_trial) if {"nfs", "nbd"} <= set(by_trial[t])]
    return [p["nfs"] for p in complete], [p["nbd"] for p in complete]


def pair_order(trial: int) -> tuple[str, str]:
    """The stores of pair ``trial`` in the order they run: NFS first in odd pairs, NBD first in even ones.

    Alternating (A B, B A, ...) puts a drift that is linear in time on each store alike: with NFS
    always first, a lab that slows down as it runs favours NFS in every pair, and the mean of the
    per-pair ratios carries that bias however many pairs run. Over two pairs it cancels.
    """
    return ("nfs", "nbd") if trial % 2 else ("nbd", "nfs")


# Why no further pair starts (RatioRecord.stop).
STOP_TRIALS = "trials"  # --trials pairs ran, and no --precision was asked for
STOP_PRECISION = "precision"  # the interval is within +-precision
STOP_MAX_TRIALS = "max_trials"  # --max-trials pairs ran without reaching it
STOP_BUDGET = "budget"  # another pair would overrun --trials-budget
STOP_RUN_BUDGET = "run_budget"  # another pair would take the run past --run-budget
# The run's budget stops the pairs from the second on: one pair has no interval (the summary says so), but a
# run that must end within its budget on a slow machine cannot always afford two (on one core, two took 586 s
# of a 600 s budget; bench/README.md, 6 December 2026).
MIN_BUDGET_PAIRS = 1


@dataclass(frozen=True)
class TrialPlan:
    """How many pairs: at least ``minimum``; with ``precision_pct``, more until the ratio's 95% interval is
    within +-``precision_pct`` percent, up to ``maximum`` pairs and while ``budget_s`` of trial time lasts."""

    minimum: int
    maximum: int
    precision_pct: float | None
    budget_s: float

    def stop_reason(self, nfs: list[float], nbd: list[float], pairs_started: int, elapsed_s: float,
                    remaining_s: float | None = None, pair_wall_s: float | None = None) -> str | None:  # fmt: skip
        """Why no further pair should start after ``pairs_started`` (None: start one).

        ``nfs``, ``nbd``: the complete pairs' times; ``elapsed_s``: the trial time spent so far. A pair is
        started only if the mean time of the pairs so far still fits in the budget. ``remaining_s``: what is
        left of the run's own budget (--run-budget) once what follows the trials is set aside, and
        ``pair_wall_s`` what a pair has cost on this machine, wall clock: past ``MIN_BUDGET_PAIRS``, a pair
        that would not fit is not started, even before --trials pairs.
        """
        out_of_time = (remaining_s is not None and pair_wall_s is not None and pairs_started >= MIN_BUDGET_PAIRS
                       and remaining_s < pair_wall_s)  # fmt: skip
        if pairs_started < self.minimum:
            return STOP_RUN_BUDGET if out_of_time else None
        if self.precision_pct is None:
            return STOP_TRIALS
        if self.reached(nfs, nbd):
            return STOP_PRECISION
        if out_of_time:
            return STOP_RUN_BUDGET
        if pairs_started >= self.maximum:
            return STOP_MAX_TRIALS
        per_pair = elapsed_s / pairs_started if pairs_started else 0.0
        if elapsed_s + per_pair > self.budget_s:
            return STOP_BUDGET
        return None

    def reached(self, nfs: list[float], nbd: list[float]) -> bool | None:
        """Is the ratio's 95% interval within +-precision (None: no precision was asked for)?"""
        if self.precision_pct is None:
            return None
        if min(len(nfs), len(nbd)) < 2:
            return False
        width = paired_ratio(nfs, nbd).half_width_pct
        return width is not None and width <= self.precision_pct
