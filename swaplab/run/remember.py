"""The history's two stages in a run: a first failure confirmed by a rerun on its blade before the verdict
may call it new, and, at the end, the run remembered as tonight's night, judged, and its outputs told.
"""

from __future__ import annotations

from swaplab import errors
from swaplab.history import nightly
from swaplab.history.facts import RERUN_FACT
from swaplab.records import Facts
from swaplab.report import journal, merge
from swaplab.report.outputs import write_outputs

from .context import RunContext, Step
from .stages import result_of
from .suites import run_suites

CONFIRM_DIR = "confirm"  # the reruns' own loads and journal: the first failure's evidence is kept as it was


def lab_of(ctx: RunContext, opts: nightly.HistoryOptions) -> str:
    return opts.lab or merge.rack_name(result_of(ctx))


class Confirm(Step):
    """Rerun each first failure on its blade (``--confirm-reruns``, default once); its outcome is a fact of
    the case (``confirm_rerun``), which the verdict reads: a rerun that passes makes the case flaky."""

    name = "confirm"

    def __init__(self, opts: nightly.HistoryOptions) -> None:
        self.opts = opts

    def run(self, ctx: RunContext) -> None:
        if self.opts.reruns < 1:
            return
        lab = lab_of(ctx, self.opts)
        failed = [(lab, c.blade, f"{c.suite}::{c.name}") for b in ctx.blades for c in b.cases
                  if c.outcome == "failed" and c.suite in ctx.opts.suites]  # fmt: skip
        if not failed:
            return
        try:
            first = nightly.first_failures(self.opts, lab, failed)
        except errors.SwaplabError as e:  # the history out: tonight's results stand, unconfirmed
            ctx.log(f"history: first failures not confirmed: {errors.message(e)}")
            return
        state = journal.read(ctx.run_dir)
        nodeids = {(c.blade, f"{c.suite}::{c.name}"): n for n, c in state.finished if n}
        wanted = {nodeids[(blade, case)]: (blade, case) for _, blade, case in sorted(first) if (blade, case) in nodeids}
        if not wanted:
            return
        ctx.log(f"history: {len(wanted)} first failure(s) rerun on their blades before the verdict calls them new")
        outcome: dict[tuple[str, str], str] = {}
        for attempt in range(self.opts.reruns):
            where = ctx.run_dir / CONFIRM_DIR / str(attempt + 1)
            where.mkdir(parents=True, exist_ok=True)
            blades = sorted({blade for blade, _ in wanted.values()})
            collector = run_suites(ctx, blades, rerun=sorted(wanted), where=where)
            for case in collector.cases:
                key = (case.blade, f"{case.suite}::{case.name}")
                if key in wanted.values():
                    outcome[key] = case.outcome
            if all(outcome.get(k) == "passed" for k in wanted.values()):
                break
        by_name = ctx.by_name()
        for (blade, case_name), result in outcome.items():
            case = next(c for c in by_name[blade].cases if f"{c.suite}::{c.name}" == case_name)
            case.records.append(Facts({RERUN_FACT: result}))
            ctx.log(f"history: {blade} {case_name}: the confirming rerun {result}")


class Remember(Step):
    """Ingest the finished run as tonight's night, judge it, notify on change, and rewrite the outputs with
    what changed; the run's exit code becomes the verdict's (a known issue is 0, a flake is 0)."""

    name = "history"

    def __init__(self, opts: nightly.HistoryOptions) -> None:
        self.opts = opts

    def run(self, ctx: RunContext) -> None:
        hw = ctx.extra.get("hw_class") or {}
        v = nightly.remember(self.opts, ctx.run_dir, ctx.log, hw if isinstance(hw, dict) else None)
        result = result_of(ctx)
        nightly.apply(result, v)
        write_outputs(ctx.run_dir, result, ctx.log)
        ctx.exit_code = result.exit_code
