"""One blade's pairs of hog trials: which ran, which count for the NFS/NBD ratio, and whether one more
pair is wanted (``swaplab.stats.TrialPlan``: --trials, --precision, --max-trials, --trials-budget, and the
run's own --run-budget: once two pairs have shown what a pair costs here, wall clock, no pair starts that
would not end before the run's deadline)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from swaplab.records import HogTrial, Record
from swaplab.stats import TrialPlan, paired_times


class TrialPairs:
    def __init__(self, plan: TrialPlan, prior: Sequence[Record], progress: Callable[[str], None],
                 deadline: float | None = None, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        """``prior``: a resumed run's records of this blade (its finished trials count); ``deadline``: when
        the trials must be over (``clock``'s time, seconds since the epoch), or None."""
        self.plan, self.progress, self.deadline, self.clock = plan, progress, deadline, clock
        self._first_start: float | None = None  # when this run's first pair started
        self.done: list[HogTrial] = [r for r in prior if isinstance(r, HogTrial) and r.status == "done"
                                     and r.trial is not None]  # finished hog trials, for the ratio  # fmt: skip
        self.elapsed_s = 0.0  # this run's hog trials' time, for --trials-budget
        self.voided: list[str] = []  # trials left out of the ratio: the NAS was out during them
        self.stop = ""  # why no further pair starts (set once a pair is not wanted)
        self._pairs: dict[int, str] = {}

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
        """Seconds left before the deadline, and what one of this run's pairs has cost, wall clock (trials
        and what goes on between them); None for what is not known yet."""
        if self.deadline is None:
            return None, None
        now = self.clock()
        ran = sum(1 for why in self._pairs.values() if not why)
        pair_wall = (now - self._first_start) / ran if ran and self._first_start is not None else None
        return self.deadline - now, pair_wall

    def started(self) -> int:
        """How many pairs have been started (this run's, and a resumed run's finished ones)."""
        return max([t for t, why in self._pairs.items() if not why] + [t.trial or 0 for t in self.done], default=0)
