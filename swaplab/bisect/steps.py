"""One bisection step on the blades: the commit built (with the series and config), the blades provisioned
with it and the suites that judge the regression run, as ``swaplab run`` would; then good, bad or skip.

A ratio regression is judged on the pairs of every blade of the run (a rack tests one step on all its
blades at once: their pairs pooled) and of every run of the step: while the interval straddles the gate,
the step runs again on the provisioned blades (``--no-provision``) for more pairs, up to the budget, then
it is skipped. A case regression is bad when the case fails on any blade, good when it passes on all.
A commit that does not build, or whose run cannot judge it (an infrastructure error: no boot, no blade),
is skipped, never called bad.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplab import errors
from swaplab.kernel.build import BuildFailed, BuildInputError, TreeInput, build
from swaplab.textsafe import visible
from swaplab.untrusted import UnsafeFile, json_strict, read_inside

from . import weak
from .engine import BisectError, Kind, Role, Verdict
from .gittree import GitTree

MAX_RESULTS = 64 << 20
RUN_TIMEOUT_S = 4 * 3600
STOP_GRACE_S = 300


def _stop(proc: subprocess.Popen[str]) -> None:
    """A step's run stopped as Jenkins stops one: SIGTERM (it keeps what finished and lets its lab go), then
    SIGKILL if it has not ended within its grace."""
    proc.terminate()
    try:
        proc.communicate(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@dataclass(frozen=True)
class Target:
    """What regressed: the NFS/NBD ratio over ``gate``, or ``case`` (``suite::test``) failing."""

    gate: float | None = None
    case: str | None = None

    @property
    def suites(self) -> str:
        return "hog,verdict" if self.case is None else self.case.split("::", 1)[0]

    def words(self) -> str:
        return f"case {self.case} fails" if self.case else f"NFS/NBD ratio over {self.gate:g}"

    def what(self) -> str:
        """As the bisection's state keeps it (``parse`` reads it back)."""
        return f"case {self.case}" if self.case else f"ratio over {self.gate!r}"

    @classmethod
    def parse(cls, what: str) -> Target:
        if what.startswith("case ") and what.count("::") == 1:
            return cls(case=what[5:])
        try:
            if what.startswith("ratio over ") and 1.0 <= (gate := float(what[11:])) <= 100:
                return cls(gate=gate)
        except ValueError:
            pass
        raise BisectError(f"a bisection's state judging {visible(what)[:60]!r}: neither a case nor a ratio gate")


@dataclass
class RunJudge:
    """Judge a commit by building it and running swaplab on the blades of ``inventory``."""

    tree: GitTree
    inventory: str
    target: Target
    directory: Path
    cache: Path
    patches: Path | None = None
    kconfig: Path | None = None
    pairs_per_run: int = 3  # three pairs give an interval a clear regression settles (two: t = 12.7)
    max_pairs: int = 8
    run_args: list[str] = field(default_factory=list)  # passed to every run (--working-set, --limit, ...)
    log: Callable[[str], None] = print
    _stopping: threading.Event = field(default_factory=threading.Event)
    _running: subprocess.Popen[str] | None = None

    def stop(self) -> None:
        """The bisection is stopped while this judge's step runs in a thread of its own: its run stopped, and
        the step raises instead of returning a verdict (an interrupted step is taken again on resume)."""
        self._stopping.set()
        if self._running is not None:
            self._running.terminate()

    def __call__(self, sha: str, index: int, role: Role) -> Verdict:
        where = self.directory / "steps" / f"{index:02d}-{sha[:12]}"
        where.mkdir(parents=True, exist_ok=True)
        try:
            built = build(TreeInput(self.tree.path, sha, self.patches, self.kconfig), self.cache, where, self.log)
        except (BuildFailed, BuildInputError) as e:  # the series may not apply to an old commit either
            return Verdict("skip", f"does not build: {errors.message(e)}", evidence=(str(where.name),))
        t0 = time.monotonic()
        runs: list[str] = []
        nfs: list[float] = []
        nbd: list[float] = []
        while True:
            provision = not runs
            run_dir, code, doc = self.run_once(built.deb, provision)
            runs.append(str(run_dir))
            if doc is None:
                return Verdict("skip", f"the run could not judge it (exit {code}): see {run_dir}",
                               build_s=built.seconds, test_s=time.monotonic() - t0, evidence=tuple(runs))  # fmt: skip
            if self.target.case is not None:
                return self.case_verdict(doc, built.seconds, time.monotonic() - t0, runs)
            for blade in doc.get("blades", []):
                ratio = blade.get("ratio") or {}
                pairs = min(len(ratio.get("nfs_s") or []), len(ratio.get("nbd_s") or []))
                nfs += [float(x) for x in ratio["nfs_s"][:pairs]] if pairs else []
                nbd += [float(x) for x in ratio["nbd_s"][:pairs]] if pairs else []
            assert self.target.gate is not None
            call = weak.decide(nfs, nbd, self.target.gate, self.max_pairs)
            self.log(f"bisect step {index}: {call.words}")
            if call.call != "more":
                kind = "skip" if call.call == "skip" else call.call
                return Verdict(kind, call.words, call.ratio, call.low, call.high, call.pairs, built.seconds,
                               time.monotonic() - t0, tuple(runs))  # fmt: skip

    def run_once(self, deb: Path, provision: bool) -> tuple[Path | None, int, dict[str, Any] | None]:
        argv = [sys.executable, "-m", "swaplab", "run", "-i", self.inventory, "--kernel", str(deb),
                # A case is judged by its outcome: one pair of hog trials is enough to see it fail.
                "--suite", self.target.suites, "--trials", str(1 if self.target.case else self.pairs_per_run),
                "--precision", "0",
                *(() if provision else ("--no-provision",)), *self.run_args]  # fmt: skip
        if self._stopping.is_set():
            raise KeyboardInterrupt("the bisection is stopping")
        proc = self._running = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _stop(proc)
            return None, -1, None
        except KeyboardInterrupt:  # the bisection is stopped: its run too, as Jenkins stops a run (SIGTERM)
            _stop(proc)
            raise
        finally:
            self._running = None
        if self._stopping.is_set():
            raise KeyboardInterrupt("the bisection is stopping")
        last = (out.strip().splitlines() or [""])[-1].strip()
        run_dir = Path(last) if last.startswith("/") else None
        if proc.returncode not in (0, 1) or run_dir is None:
            return run_dir, proc.returncode, None
        try:
            doc = json_strict(read_inside(run_dir, "results.json", MAX_RESULTS))
        except (UnsafeFile, ValueError):
            return run_dir, proc.returncode, None
        return run_dir, proc.returncode, doc if isinstance(doc, dict) else None

    def case_verdict(self, doc: dict[str, Any], build_s: float, test_s: float, runs: list[str]) -> Verdict:
        name = (self.target.case or "::").split("::", 1)[1]
        outcomes = [c.get("outcome") for b in doc.get("blades", []) for c in b.get("cases", [])
                    if c.get("name") == name or str(c.get("name", "")).startswith(f"{name}[")]  # fmt: skip
        kind: Kind
        if "failed" in outcomes:
            kind = "bad"
        elif outcomes and all(o == "passed" for o in outcomes):
            kind = "good"
        else:
            kind = "skip"  # errors, or the case not run: the run cannot judge this commit
        note = f"{self.target.case}: {', '.join(str(o) for o in outcomes) or 'not run'}"
        return Verdict(kind, note, build_s=build_s, test_s=test_s, evidence=tuple(runs))
