"""A bisection's report for a person: its outcome, then every step with its verdict, ratio and interval,
and its build and test times (``report.md`` beside ``bisect.json``). Subjects come from the tree and are
written as inert text."""

from __future__ import annotations

from pathlib import Path

from swaplab import atomic
from swaplab.textsafe import visible

from .engine import Outcome, State
from .gittree import GitTree


def _cell(text: str, limit: int = 80) -> str:
    return visible(text)[:limit].replace("|", "\\|").replace("`", "'")


def _secs(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} s"


def render(state: State, outcome: Outcome, tree: GitTree) -> str:
    lines = [f"# Bisection: {_cell(state.what)}", "",
             f"**{_cell(outcome.words, 400)}**", "",
             f"Tree `{_cell(state.tree, 200)}`; good `{state.good[:12]}`, bad `{state.bad[:12]}`; "
             f"{len(tree.candidates(state.bad, [state.good]))} candidate commits; {len(state.steps)} steps.", "",
             "| step | role | commit | subject | verdict | ratio (95% CI) | pairs | build | test | why |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for s in state.steps:
        v = s.verdict
        ratio = "" if v.ratio is None else f"{v.ratio:.2f}"
        if v.low is not None and v.high is not None:
            ratio += f" ({v.low:.2f}-{v.high:.2f})"
        lines.append(f"| {s.index} | {s.role} | `{s.sha[:12]}` | {_cell(s.subject, 60)} | **{v.kind}** | {ratio} | "
                     f"{v.pairs or ''} | {_secs(v.build_s)} | {_secs(v.test_s)} | {_cell(v.note, 160)} |")  # fmt: skip
    built = [s.verdict.build_s for s in state.steps if s.verdict.build_s]
    tested = [s.verdict.test_s for s in state.steps if s.verdict.test_s]
    if built or tested:
        lines += ["", f"Builds: {len(built)}, {sum(built):.0f} s in all; tests: {len(tested)}, "
                  f"{sum(tested):.0f} s in all."]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(directory: Path, state: State, outcome: Outcome, tree: GitTree) -> Path:
    path = directory / "report.md"
    atomic.write_text(path, render(state, outcome, tree))
    return path
