"""The bisection: from a good and a bad commit to the first bad one, confirmed, every step kept.

The state is the list of steps taken, saved in the bisection's directory after each one
(``bisect.json``); the next action is a function of that list alone, so a controller killed mid-step
resumes where it was (the step it was in is taken again, nothing before it). The order, as KernelCI's
bisections did it:

1. both ends first: the bad commit must be bad, the good one good (else there is nothing to bisect);
2. the search: ``git rev-list --bisect-all`` picks the next commit; a step the judge cannot settle (no
   build, no boot, a ratio whose interval still straddles the gate after its pair budget) is skipped,
   never called bad;
3. the confirmation: the first bad commit is tested again and must fail again, and each of its parents
   again and must pass again.

With N candidates between the ends, that is at most ceil(log2(N)) + 4 steps, skips aside.

A rack may test several commits at once, one group of blades each (``swaplab bisect --split K``): the two
ends together, then K commits that cut the candidates into K+1 parts, then the confirmations together.
Each step is saved as it ends; a batch cut short by a kill is taken up again from the steps it saved.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from swaplab import atomic, errors, locks
from swaplab.untrusted import UnsafeFile, json_strict, read_inside

from .gittree import SHA_RE, GitTree

STATE_FILE = "bisect.json"
LOCK_FILE = "bisect.lock"
MAX_STATE_BYTES = 4 << 20
Kind = Literal["good", "bad", "skip"]
Role = Literal["bad-end", "good-end", "search", "confirm-bad", "confirm-parent"]
EXPECTED: dict[str, Kind] = {"bad-end": "bad", "good-end": "good", "confirm-bad": "bad", "confirm-parent": "good"}


class BisectError(errors.BadInput):
    """The ends given cannot be bisected (the order, the tree), or a bisection's saved state is not one."""


class Unsettled(errors.Infrastructure):
    """The bisection stopped without a confirmed first bad commit: an end that is not what it was said
    to be, a confirmation that did not repeat, or only skipped commits left."""


@dataclass(frozen=True)
class Verdict:
    """What the judge made of one commit: good, bad or skip, with the evidence."""

    kind: Kind
    note: str = ""  # why, in words: "ratio 1.42 (95% CI 1.30-1.55) over the gate 1.2", "does not build"
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    pairs: int = 0
    build_s: float | None = None
    test_s: float | None = None
    evidence: tuple[str, ...] = ()  # paths, relative to the bisection's directory


class Judge(Protocol):
    def __call__(self, sha: str, index: int, role: Role) -> Verdict: ...


@dataclass(frozen=True)
class Step:
    index: int
    role: Role
    sha: str
    subject: str
    verdict: Verdict


@dataclass
class State:
    tree: str
    good: str
    bad: str
    what: str  # what is judged: "ratio <= 1.2", "case verdict::test_kernel_health"
    steps: list[Step] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"schema": 1, **asdict(self)}

    @classmethod
    def from_json(cls, doc: object) -> State:
        if not isinstance(doc, dict) or doc.get("schema") != 1:
            raise BisectError("not a swaplab bisection's state (schema 1)")
        try:
            steps = [Step(int(s["index"]), s["role"], _sha(s["sha"]), str(s["subject"])[:200],
                          _verdict(s["verdict"])) for s in doc["steps"]]  # fmt: skip
            state = cls(str(doc["tree"]), _sha(doc["good"]), _sha(doc["bad"]), str(doc["what"])[:200], steps)
        except (KeyError, TypeError, ValueError) as e:
            raise BisectError(f"a bisection's state that does not parse: {type(e).__name__}: {e}") from None
        if any(s.role not in (*EXPECTED, "search") for s in steps):
            raise BisectError("a bisection's state with a step of no known role")
        return state

    def save(self, directory: Path) -> None:
        atomic.write_text(directory / STATE_FILE, json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, directory: Path) -> State:
        try:
            return cls.from_json(json_strict(read_inside(directory, STATE_FILE, MAX_STATE_BYTES)))
        except (UnsafeFile, ValueError) as e:
            raise BisectError(f"{directory}: no bisection to resume: {e}") from None


def _sha(value: object) -> str:
    if not isinstance(value, str) or not SHA_RE.fullmatch(value):
        raise ValueError(f"{str(value)[:60]!r} is not a commit id")
    return value


def _verdict(doc: Any) -> Verdict:
    if doc["kind"] not in ("good", "bad", "skip"):
        raise ValueError(f"verdict {str(doc['kind'])[:20]!r}")
    num = {k: (None if doc.get(k) is None else float(doc[k])) for k in ("ratio", "low", "high", "build_s", "test_s")}
    return Verdict(doc["kind"], str(doc.get("note", ""))[:2000], pairs=int(doc.get("pairs", 0)),
                   evidence=tuple(str(e)[:300] for e in doc.get("evidence", ())[:50]), **num)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """The bisection's end: the first bad commit confirmed, or why not."""

    first_bad: str | None
    confirmed: bool
    suspects: tuple[str, ...]  # where skips leave it ambiguous: the first bad is one of these
    words: str


def hold(directory: Path) -> int:
    """One bisection at a time in ``directory``: an exclusive lock on its ``bisect.lock`` (a file of its own,
    never followed through a link), held until the process ends; a second one is refused (BisectError)."""
    try:
        fd = locks.try_hold(directory / LOCK_FILE, f"{directory}: cannot lock it")
    except locks.LockError as e:
        raise BisectError(str(e)) from None
    if fd is None:
        raise BisectError(f"{directory}: another bisection is running in it: let it finish, or stop it")
    return fd


def step_bound(candidates: int) -> int:
    """The most build-and-test steps a bisection of ``candidates`` commits takes, skips aside."""
    return math.ceil(math.log2(max(candidates, 1))) + 4


class Bisection:
    """Drive ``judge`` over ``tree`` from the state's ends to a confirmed first bad commit, saving the
    state in ``directory`` after every step."""

    def __init__(self, tree: GitTree, state: State, judge: Judge, directory: Path,
                 log: Callable[[str], None] = print) -> None:  # fmt: skip
        self.tree, self.state, self.judge, self.dir, self.log = tree, state, judge, directory, log
        self._saving = threading.Lock()  # the steps of a batch end in any order, each saved whole

    def run(self, max_steps: int | None = None, judges: Sequence[Judge] = ()) -> Outcome:
        """To the outcome; ``judges``: one per group of blades, each taking one step of a batch at once
        (none given: this bisection's one judge, one step at a time)."""
        judges = list(judges) or [self.judge]
        limit = max_steps if max_steps is not None else step_bound(len(self.candidates())) * len(judges) + 16
        while (outcome := self.decided()) is None:
            if len(self.state.steps) >= limit:
                raise Unsettled(f"the bisection took {limit} steps without settling: see {self.dir / STATE_FILE}")
            actions = self.next_actions(len(judges))
            if len(actions) == 1:
                self.take(*actions[0], judge=judges[0])
            else:
                self.take_batch(actions, judges)
        return outcome

    def candidates(self) -> list[str]:
        return self.tree.candidates(self.state.bad, [self.state.good])

    # -- what the steps so far say --------------------------------------------------------------------
    def _by_role(self, role: Role) -> list[Step]:
        return [s for s in self.state.steps if s.role == role]

    def current(self) -> tuple[str, list[str], set[str]]:
        """The bad commit the search stands on, the good ones, and the skipped ones."""
        bads, goods, skipped = [self.state.bad], [self.state.good], set()
        for s in self._by_role("search"):
            if s.verdict.kind == "bad":
                bads.append(s.sha)  # one at a time, a candidate of the bad before it: an ancestor of it
            elif s.verdict.kind == "good":
                goods.append(s.sha)
            else:
                skipped.add(s.sha)
        # Tested side by side, the bads of one batch are in no order: the search stands on the one that
        # leaves the fewest candidates (in a linear history, the oldest).
        bad = bads[-1] if len(bads) <= 2 else min(bads, key=lambda b: len(self.tree.candidates(b, goods)))
        return bad, goods, skipped

    def found(self) -> tuple[str, ...] | None:
        """The suspects once the search is over (one: the first bad commit), else None."""
        bad, goods, skipped = self.current()
        if self.tree.next_to_test(bad, goods, skipped) is not None:
            return None
        left = self.tree.candidates(bad, goods)
        return tuple(s for s in left if s == bad or s in skipped)

    def next_action(self) -> tuple[Role, str]:
        if not self._by_role("bad-end"):
            return "bad-end", self.state.bad
        if not self._by_role("good-end"):
            return "good-end", self.state.good
        suspects = self.found()
        if suspects is None:
            bad, goods, skipped = self.current()
            nxt = self.tree.next_to_test(bad, goods, skipped)
            assert nxt is not None  # found() said the search goes on
            return "search", nxt
        culprit = suspects[0]
        if not self._by_role("confirm-bad"):
            return "confirm-bad", culprit
        confirmed = {s.sha for s in self._by_role("confirm-parent")}
        parent = next(p for p in self.tree.parents(culprit) if p not in confirmed)
        return "confirm-parent", parent

    def next_actions(self, k: int) -> list[tuple[Role, str]]:
        """Up to ``k`` steps to take at once: both ends; ``k`` commits cutting the candidates left into
        ``k`` + 1 parts (one at a time, git's own choice); the culprit's confirmation and its parents'."""
        if k <= 1:
            return [self.next_action()]
        both: list[tuple[Role, str]] = [("bad-end", self.state.bad), ("good-end", self.state.good)]
        ends = [(role, sha) for role, sha in both if not self._by_role(role)]
        if ends:
            return ends
        suspects = self.found()
        if suspects is None:
            bad, goods, skipped = self.current()
            left = [s for s in reversed(self.tree.candidates(bad, goods)) if s != bad and s not in skipped]
            n = len(left)  # oldest first, in a linear history
            picks = sorted({min(n - 1, max(0, round(i * (n + 1) / (k + 1)) - 1)) for i in range(1, k + 1)})
            return [("search", left[p]) for p in picks]
        culprit = suspects[0]
        out: list[tuple[Role, str]] = [] if self._by_role("confirm-bad") else [("confirm-bad", culprit)]
        confirmed = {s.sha for s in self._by_role("confirm-parent")}
        out += [("confirm-parent", p) for p in self.tree.parents(culprit) if p not in confirmed]
        return out[:k] or [self.next_action()]

    def decided(self) -> Outcome | None:
        """The outcome, once the steps settle it; None while a step is still to take."""
        for role in ("bad-end", "good-end"):  # the ends first: each what it was said to be
            for s in self._by_role(role):
                if s.verdict.kind != EXPECTED[role]:
                    said = "bad" if role == "bad-end" else "good"
                    return Outcome(None, False, (), f"the {said} end {s.sha[:12]} ({s.subject}) came out "
                                   f"{s.verdict.kind}: {s.verdict.note or 'no note'}; nothing to bisect")  # fmt: skip
        if not self._by_role("bad-end") or not self._by_role("good-end"):
            return None
        suspects = self.found()
        if suspects is None:
            return None
        if len(suspects) > 1:
            names = ", ".join(s[:12] for s in suspects)
            return Outcome(None, False, suspects, f"the first bad commit is one of {names}: the others were "
                           "skipped (they did not build, boot, or settle)")  # fmt: skip
        culprit = suspects[0]
        checks = self._by_role("confirm-bad")
        if not checks:
            return None
        if checks[0].verdict.kind != "bad":
            return Outcome(culprit, False, suspects, f"{culprit[:12]} was bad in the search but "
                           f"{checks[0].verdict.kind} when tested again: {checks[0].verdict.note}")  # fmt: skip
        parents = self.tree.parents(culprit)
        done = {s.sha: s for s in self._by_role("confirm-parent")}
        for p in parents:
            if p not in done:
                return None
            if done[p].verdict.kind != "good":
                return Outcome(culprit, False, suspects, f"{culprit[:12]}'s parent {p[:12]} came out "
                               f"{done[p].verdict.kind} when tested again: {done[p].verdict.note}")  # fmt: skip
        subject = self.tree.commit(culprit).subject
        return Outcome(culprit, True, suspects, f"the first bad commit is {culprit[:12]} ({subject}): bad again "
                       f"when tested again, and its parent{'s' * (len(parents) > 1)} good again")  # fmt: skip

    def take(self, role: Role, sha: str, index: int | None = None, judge: Judge | None = None) -> Step:
        index = index or max((s.index for s in self.state.steps), default=0) + 1
        commit = self.tree.commit(sha)
        self.log(f"bisect step {index} ({role}): {commit.short} {commit.subject}")
        verdict = (judge or self.judge)(sha, index, role)
        step = Step(index, role, sha, commit.subject, verdict)
        with self._saving:
            self.state.steps.append(step)
            self.state.steps.sort(key=lambda s: s.index)
            self.state.save(self.dir)
        self.log(f"bisect step {index}: {verdict.kind}" + (f": {verdict.note}" if verdict.note else ""))
        return step

    def take_batch(self, actions: list[tuple[Role, str]], judges: Sequence[Judge]) -> list[Step]:
        """The steps side by side, each on its own judge (group of blades); each saved as it ends."""
        first = max((s.index for s in self.state.steps), default=0) + 1
        with ThreadPoolExecutor(max_workers=len(actions), thread_name_prefix="bisect-step") as pool:
            futures = [pool.submit(self.take, role, sha, first + i, judges[i])
                       for i, (role, sha) in enumerate(actions)]  # fmt: skip
            try:
                return [f.result() for f in futures]
            except KeyboardInterrupt:  # stopped: the other groups' steps are stopped too, and none is saved
                for judge in judges:
                    stop = getattr(judge, "stop", None)
                    if stop is not None:
                        stop()
                raise


def start(tree: GitTree, good_rev: str, bad_rev: str, what: str) -> State:
    """A new bisection's state, after the ends are checked: both commits in the tree, the good one an
    ancestor of the bad one, something between them (``BisectError`` names what is wrong)."""
    problems = tree.check()
    if problems:
        raise BisectError("; ".join(problems))
    good, bad = tree.resolve(good_rev), tree.resolve(bad_rev)
    if good == bad:
        raise BisectError(f"--good and --bad are the same commit ({good[:12]}): nothing to bisect")
    if not tree.is_ancestor(good, bad):
        order = " (they are the wrong way round: swap them)" if tree.is_ancestor(bad, good) else ""
        raise BisectError(f"the good commit {good[:12]} is not an ancestor of the bad one {bad[:12]}{order}")
    return State(str(tree.path), good, bad, what)
