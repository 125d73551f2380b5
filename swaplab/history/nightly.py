"""A nightly command's history options (``run``, ``merge``): checked with everything else before a run
acts, then used at its end: the run ingested as tonight's night, judged, notified on change, and its
outputs told what changed (``apply``).

``apply`` is how the verdict reaches the outputs a release engineer reads:

- every changed case carries its change as a blade property (``change.SUITE::NAME``), and a regression's
  failure message starts with it ("new failure; last good ..., first bad ...");
- a failure that is a known issue is shown as expected (``<skipped>`` with the bug link); a flaky one as
  passed with its flaky failure (JUnit's ``flakyFailure``, which Jenkins shows as flaky);
- a metric's regression is a ``<failure>`` of its own (suite ``history``), naming the step and the kernels;
- results.json carries the whole verdict under ``changes``; report.html shows it first, with the trends.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swaplab.report.model import Case
from swaplab.report.results import RunResult
from swaplab.textsafe import shown

from . import known as known_mod
from . import notify
from .facts import HistoryInputError
from .store import WINDOW, History, target
from .verdict import CaseChange, MetricChange, Verdict

MAX_RERUNS = 5


@dataclass
class HistoryOptions:
    history: str | None = None
    lab: str | None = None
    label: str | None = None
    kernel_commit: str | None = None
    known_issues: str | None = None
    notify: str | None = None
    reruns: int = 1  # a first failure is rerun this many times on its blade before it is called new

    def problems(self) -> list[str]:
        """Every problem with these options, before anything starts (nothing is opened or sent)."""
        out: list[str] = []
        for check in (lambda: target(self.history), lambda: self.known(), lambda: notify.targets(self.notify)):
            try:
                check()
            except HistoryInputError as e:
                out += e.problems
        if not 0 <= self.reruns <= MAX_RERUNS:
            out.append(f"--confirm-reruns {self.reruns}: give 0 to {MAX_RERUNS}")
        return out

    def known(self) -> list[known_mod.KnownIssue]:
        return known_mod.load(Path(self.known_issues)) if self.known_issues else []


def add_arguments(p: argparse.ArgumentParser, reruns: bool = True) -> None:
    g = p.add_argument_group("history (what changed since last night and since the release)")
    g.add_argument(
        "--history",
        metavar="PATH|URL",
        help="remember this run in a history: a SQLite file or a "
        "postgresql:// URL without its password (default $SWAPLAB_HISTORY when set)",
    )
    g.add_argument(
        "--history-lab",
        dest="history_lab",
        metavar="NAME",
        help="the lab the nights belong to (default: the inventory's directory, virtual)",
    )
    g.add_argument("--label", help="tonight's label (nightly, v6.1-rc3)")
    g.add_argument("--kernel-commit", help="the kernel's git commit (names the last good and first bad)")
    g.add_argument("--known-issues", metavar="FILE", help="known failures: case, finding, bug link, expiry")
    g.add_argument(
        "--notify",
        metavar="FILE",
        help="Apprise URLs, one a line, told when the verdict changes (default $SWAPLAB_NOTIFY)",
    )
    if not reruns:
        p.set_defaults(confirm_reruns=0)
        return
    g.add_argument(
        "--confirm-reruns",
        dest="confirm_reruns",
        type=int,
        default=1,
        metavar="N",
        help="rerun a first failure this many times on its blade before calling it new (default 1)",
    )


def from_args(args: argparse.Namespace) -> HistoryOptions | None:
    import os

    history = args.history or os.environ.get("SWAPLAB_HISTORY") or None
    if history is None:
        return None
    return HistoryOptions(
        history=history,
        lab=args.history_lab,
        label=args.label,
        kernel_commit=args.kernel_commit,
        known_issues=args.known_issues,
        notify=args.notify,
        reruns=args.confirm_reruns,
    )


def first_failures(opts: HistoryOptions, lab: str, failed: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Of tonight's failed cases (rack, blade, suite::name), those that did not fail on the night before they
    were last judged: each is rerun before the verdict may call it new."""
    with History(target(opts.history)) as h:
        if lab not in h.labs():
            return set(failed)
        nights = h.nights(lab, WINDOW)
        data = h.series(lab, [n.id for n in nights])
    last: dict[tuple[str, str, str], str] = {}
    for (sid, _night), (outcome, _rerun, _msg) in sorted(data.cases.items(), key=lambda kv: kv[0][1]):
        name = data.names[sid]
        if outcome in ("pass", "failure"):
            last[(name.rack, name.blade, name.name)] = outcome
    return {f for f in failed if last.get(f) != "failure"}


def remember(opts: HistoryOptions, run_dir: Path, log: Any, hw_classes: dict[str, str] | None = None) -> Verdict:
    """Ingest the run (or merged sign-off) in ``run_dir`` as tonight, judge it, and notify on change."""
    from .commands import ingest

    with History(target(opts.history)) as h:
        v, changed = ingest(h, run_dir, opts.lab, opts.label, opts.kernel_commit, opts.known(), hw_classes)
    log(
        f"history: night {v.tonight.seq} of lab {v.tonight.lab}: {len(v.regressions)} regression(s), "
        f"{len(v.changed())} change(s) since last night"
    )
    urls = notify.targets(opts.notify)
    if urls and notify.worth_telling(v, changed):
        failed = notify.send(v, urls)
        log(
            f"history: notified {len(urls) - len(failed)} of {len(urls)} target(s)"
            + (f"; target(s) {', '.join(map(str, failed))} (by line) failed" if failed else "")
        )
    elif urls:
        log("history: the verdict is last night's: nobody notified")
    return v


def apply(result: RunResult, v: Verdict) -> None:
    """Tell the run's outputs what changed (the module's docstring says how)."""
    by_blade = {b.name: b for b in result.blades}
    for c in v.cases:
        b = by_blade.get(c.blade)
        if b is None or c.state == "pass":
            continue
        b.properties[f"change.{c.case}"] = c.state
        case = next((x for x in b.cases if f"{x.suite}::{x.name}" == c.case), None)
        if case is None:
            continue
        if c.state == "known-issue" and case.outcome == "failed":
            case.outcome, case.message = "skipped", f"expected: known issue {c.bug}: {case.message}"
        elif c.state == "flaky" and case.outcome == "failed":
            rate = f"failed {c.rate:.0%} of {c.nights} nights" if c.rate is not None else "its rerun passed"
            case.outcome, case.details = "passed", f"flaky ({rate}): {case.message}\n{case.details}".strip()
            case.message = ""
            b.properties[f"flaky.{c.case}"] = rate
        elif c.state in ("new-failure", "still-failing") and case.outcome == "failed":
            case.message = f"{_said(c)}: {case.message}"
    for m in v.metrics:
        # A pooled series' regression (its blades of one class together) is one failure, on its first blade.
        b = by_blade.get(m.blades[0] if m.blades else m.blade)
        if b is None or m.state != "new-regression":
            continue
        across = f" across {m.blade}" if m.blades else ""
        b.properties[f"change.{m.metric}{across}"] = m.state
        b.cases.append(Case(b.name, "history", f"no change in {m.metric}{across}", "failed", message=_said(m)))
    result.changes = v.to_json()
    from swaplab.report.model import exit_code

    result.exit_code = exit_code(result.blades)


def _said(c: CaseChange | MetricChange) -> str:
    good = c.last_good.kernel_text() if c.last_good else "none in the history"
    bad = c.first_bad.kernel_text() if c.first_bad else "?"
    if isinstance(c, MetricChange):
        return (
            f"{shown(c.metric, 80)} regressed {c.change_pct or 0:+.1f}% ({c.before or 0:.4g} -> {c.after or 0:.4g}), "
            f"{c.nights} night(s); last good {good}, first bad {bad}"
        )
    if c.state == "still-failing":
        return f"still failing, {c.nights} nights; last good {good}, first bad {bad}"
    return f"new failure; last good {good}, first bad {bad}"
