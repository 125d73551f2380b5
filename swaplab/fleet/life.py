"""A blade's life in a run, as one state and one transition function.

    up ──> loading ──> up                                  (a load ended, judged)
              │ ├────> down                                (the lab lost it: no power-cycle)
              │ └────> hung | crashed ──> evidence ──> queued ──> power-cycled ──> up
              │                                          │             │
    up ──> down                                          └─────────────┴──> quarantined

``hung`` is a hang or a stall (silence, or progress that stopped); ``crashed`` a panic, a fatal userspace
crash or memory gone bad. ``evidence``: sysrq, the console's tail and the journal kept before anything
else; ``queued``: waiting for one of ``--max-recoveries`` slots; ``power-cycled``: through the BMC into
the kernel under test, swap restored. A blade recovered ``--max-hangs`` times, or one whose recovery
failed, is quarantined: its later cases are skipped with the reason. ``down`` and ``quarantined`` are
the ends of its life in this run. Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from swaplab import errors


class State(enum.Enum):
    UP = "up"
    LOADING = "loading"
    HUNG = "hung"
    CRASHED = "crashed"
    EVIDENCE = "evidence"
    QUEUED = "queued"
    POWER_CYCLED = "power-cycled"
    DOWN = "down"
    QUARANTINED = "quarantined"


S = State
EDGES: dict[State, frozenset[State]] = {
    S.UP: frozenset({S.LOADING, S.DOWN}),
    S.LOADING: frozenset({S.UP, S.HUNG, S.CRASHED, S.DOWN}),
    S.HUNG: frozenset({S.EVIDENCE}),
    S.CRASHED: frozenset({S.EVIDENCE}),
    S.EVIDENCE: frozenset({S.QUEUED}),
    S.QUEUED: frozenset({S.POWER_CYCLED, S.QUARANTINED}),
    S.POWER_CYCLED: frozenset({S.UP, S.QUARANTINED}),
    S.DOWN: frozenset(),
    S.QUARANTINED: frozenset(),
}
# How a load's end (``LoadOutcome.status`` or the console watch's) enters the recovery.
ENDS = {
    "hung": S.HUNG,
    "stalled": S.HUNG,
    "panic": S.CRASHED,
    "panicked": S.CRASHED,
    "crashed": S.CRASHED,
    "memory-bad": S.CRASHED,
}  # any other end the watch gives: crashed (a kernel failure all the same)


class IllegalTransition(errors.SwaplabBug):
    """A transition the life of a blade does not have: swaplab's own bug, never the kernel's."""


@dataclass
class Life:
    """A blade's state, why it is there (for ``down`` and ``quarantined``), and how often it hung or
    crashed in this run (``--max-hangs`` counts them)."""

    state: State = State.UP
    why: str = ""
    hangs: int = 0

    def to(self, new: State, why: str = "") -> Life:
        """Move to ``new`` (``IllegalTransition`` if there is no such edge)."""
        self.state, self.why = transition(self.state, new), why
        return self

    def ended(self, status: str) -> Life:
        """A load ended in ``status`` (hung, stalled, panicked, crashed, memory-bad): counted, and on to its
        recovery."""
        self.to(ENDS.get(status, S.CRASHED), status)
        self.hangs += 1
        return self

    @property
    def down(self) -> str | None:
        return self.why if self.state is State.DOWN else None

    @property
    def quarantined(self) -> str:
        return self.why if self.state is State.QUARANTINED else ""

    @property
    def usable(self) -> bool:
        return self.state in (State.UP, State.LOADING)


def transition(current: State, new: State) -> State:
    """The one transition function: ``new`` if the life has that edge."""
    if new not in EDGES[current]:
        raise IllegalTransition(f"a blade cannot go from {current.value} to {new.value}")
    return new
