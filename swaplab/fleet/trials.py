"""One blade's pairs of hog trials: which ran, which count for the NFS/NBD ratio, and whether one more
pair is wanted (``swaplab.stats.TrialPlan``: --trials, --precision, --max-trials, --trials-budget, and the
run's own --run-budget: once a pair has shown what a pair costs here, wall clock, no pair starts that
would not end before the run's deadline, with the suites after the trials set aside).

The hog trials run before fio (after a warm-up through NFS swap, not counted: a first NFS trial after a
boot is slow), so what a pair cost sizes fio too: the pairs stop with its cost set aside
(``after_trials_s``), and the hog beside fio gets what is left (``pressure_share``), never below
``PRESSURE_FLOOR`` x RAM; when not even that fits, it is not run, and its case says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from swaplab.options import RunOptions
from swaplab.records import HogTrial, Record
from swaplab.stats import TrialPlan, paired_times

# A load's cost beyond its own work (the page-cache drop, swapoff and swapon, polling, fetching its files):
# fio alone, four 5 s jobs, took 21-22 s on the virtual lab (bench/README.md, 6 December 2026).
LOAD_OVERHEAD_S = 5.0
FIO_JOBS = 4  # swaplab.fleet.fio.JOBS
# The hog beside fio takes longer than a trial's: 72-76 s in the same run whose trials took 34-49 s.
PRESSURE_FACTOR = 1.8
PRESSURE_FLOOR = 1.25  # fio beside the hog still swaps a quarter of RAM out and back
# ... and at its floor still most of a trial's: 115 and 134 s on one core, whose 2x trials took 117-143 s
# (bench/README.md, 6 December 2026): fio's own I/O and the load's overhead do not shrink with the hog.
PRESSURE_FLOOR_FACTOR = 0.95
# The warm-up before the trials (tests/fleet/test_hog.py): its load, and its working set, this x RAM or the
# run's own if smaller.
WARM_UP_LOAD = "hog-warm-nfs"
WARM_UP_TIMES_RAM = 1.25


def fio_alone_s(fio_runtime_s: float) -> float:
    """What fio alone costs on one store: its jobs, each ``fio_runtime_s``, and the load's overhead."""
    return FIO_JOBS * fio_runtime_s + LOAD_OVERHEAD_S


def after_trials_s(suites: Sequence[str], fio_runtime_s: float, pair_wall_s: float) -> float:
    """What the suites after the hog trials must keep of the budget, from what a pair of trials cost here: fio
    alone on both stores, and fio beside the hog on both at its floor (``PRESSURE_FLOOR_FACTOR`` of a trial
    each). The floor, not the whole working set: another pair (the ratio's precision) comes before a bigger
    hog beside fio, which gets what the pairs leave (``TrialPairs.pressure_share``). With the whole working
    set set aside (1.8 trials each), the default run on the virtual lab stopped after one pair and ended
    169 s inside its budget (7 December 2026)."""
    if "fio" not in suites:
        return 0.0
    return 2 * fio_alone_s(fio_runtime_s) + PRESSURE_FLOOR_FACTOR * pair_wall_s


class TrialPairs:
    def __init__(self, plan: TrialPlan, prior: Sequence[Record], progress: Callable[[str], None],
                 deadline: float | None = None, clock: Callable[[], float] = time.time,
                 after: Callable[[float], float] | None = None) -> None:  # fmt: skip
        """``prior``: a resumed run's records of this blade (its finished trials count); ``deadline``: when
        the run's suites must be over (``clock``'s time, seconds since the epoch), or None; ``after``: what
        the suites after the trials will cost, given what a pair cost (``after_trials_s``)."""
        self.plan, self.progress, self.deadline, self.clock, self.after = plan, progress, deadline, clock, after
        self.pair_wall_s: float | None = None  # what one of this run's pairs cost, wall clock (once known)
        self._first_start: float | None = None  # when this run's first pair started
        self.done: list[HogTrial] = [r for r in prior if isinstance(r, HogTrial) and r.status == "done"
                                     and r.trial is not None]  # finished hog trials, for the ratio  # fmt: skip
        self.elapsed_s = 0.0  # this run's hog trials' time, for --trials-budget
        self.voided: list[str] = []  # trials left out of the ratio: the NAS was out during them
        self.stop = ""  # why no further pair starts (set once a pair is not wanted)
        self._pairs: dict[int, str] = {}

    @classmethod
    def for_run(cls, opts: RunOptions, prior: Sequence[Record], progress: Callable[[str], None],
                deadline: float | None) -> TrialPairs:  # fmt: skip
        """A blade's pairs as the run's options plan them, what follows the trials set aside."""
        return cls(opts.trial_plan(), prior, progress, deadline,
                   after=lambda pair_s: after_trials_s(opts.suites, opts.fio_runtime_s, pair_s))  # fmt: skip

    def paired_times(self) -> tuple[list[float], list[float]]:
        """The NFS and NBD times of the complete pairs so far."""
        return paired_times([(t.trial, t.store, t.total_s) for t in self.done
                             if t.trial is not None and t.total_s is not None])  # fmt: skip

    def wanted(self, trial: int) -> str:
        """'' if pair ``trial`` runs, else why not (``TrialPlan.stop_reason``). Decided once per pair, at its
        first trial; once a pair is not wanted, none after it is."""
        if trial not in self._pairs:
            reason = self.stop
            if not reason:
                nfs, nbd = self.paired_times()
                remaining, pair_wall = self.budget_left()
                reason = self.plan.stop_reason(nfs, nbd, trial - 1, self.elapsed_s, remaining, pair_wall) or ""
                if reason:
                    self.stop = reason
                    self.progress(f"hog trials: {trial - 1} pair(s), no more ({reason})")
            self._pairs[trial] = reason
            if not reason and self._first_start is None:
                self._first_start = self.clock()
        return self._pairs[trial]

    def budget_left(self) -> tuple[float | None, float | None]:
        """Seconds left for trials before the deadline (what follows them set aside), and what one of this
        run's pairs has cost, wall clock (trials and what goes on between them); None for what is not known."""
        if self.deadline is None:
            return None, None
        now = self.clock()
        ran = sum(1 for why in self._pairs.values() if not why)
        if ran and self._first_start is not None and not self.stop:
            self.pair_wall_s = (now - self._first_start) / ran
        pair_wall = self.pair_wall_s
        reserve = self.after(pair_wall) if self.after is not None and pair_wall is not None else 0.0
        return self.deadline - now - reserve, pair_wall

    def pressure_share(self, loads_left: int) -> float | None:
        """How far from ``PRESSURE_FLOOR`` x RAM to the whole working set the hog beside fio can go in each of
        the ``loads_left`` loads of fio beside the hog within the run's deadline: 1.0 all the way (also when
        no deadline, or no pair told the cost), 0.0 the floor; None when not even the floor fits. A load
        costs a trial's time times ``PRESSURE_FLOOR_FACTOR`` at the floor, ``PRESSURE_FACTOR`` at the
        whole working set, and in proportion between."""
        if self.deadline is None or self.pair_wall_s is None or loads_left < 1:
            return 1.0
        per_load = self.seconds_left() / loads_left / self.trial_s()  # in trials
        share = (per_load - PRESSURE_FLOOR_FACTOR) / (PRESSURE_FACTOR - PRESSURE_FLOOR_FACTOR)
        return None if share < 0 else min(1.0, share)

    def seconds_left(self) -> float:
        """Seconds until the run's deadline (infinite without one)."""
        return float("inf") if self.deadline is None else self.deadline - self.clock()

    def trial_s(self) -> float:
        """What one trial has cost on this machine, wall clock (half a pair; 0 until a pair told it)."""
        return (self.pair_wall_s or 0.0) / 2

    def started(self) -> int:
        """How many pairs have been started (this run's, and a resumed run's finished ones)."""
        return max([t for t, why in self._pairs.items() if not why] + [t.trial or 0 for t in self.done], default=0)
