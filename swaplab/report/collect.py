"""A pytest plugin that turns the fleet suites' reports into ``Case`` objects, per blade.

Two halves, because blades are tested in parallel by pytest-xdist workers: this module's
``pytest_runtest_makereport`` hook (load it with ``-p swaplab.report.collect``: xdist passes that
on to every worker) marks each report, where the test ran, with its blade and whether its
exception was a failed check; ``Collector`` (registered in the controlling process) reads the
reports, which xdist sends back with those marks, and builds the cases.

A case's outcome: a failed check in the test body (``assert``, ``pytest.fail``) is a
``failed`` kernel check; a failed setup or teardown, ``InfraError``, ``RemoteError``
(testinfra's commands that got no answer), or any other exception (a bug of swaplab's
included) is an ``error``: swaplab could not judge the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

from swaplab.records import ATTACHMENT_KEY, RECORD_KEY, UNNEEDED_KEY, LoadFigures, from_json
from swaplab.report.journal import Journal, Planned
from swaplab.report.model import Case

MAX_DETAILS = 8000
PLUGIN = __name__  # the name to pass to ``-p``


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report = yield
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "blade" in callspec.params:
        report.user_properties.append(("swaplab_blade", callspec.params["blade"]))
    # Only a failed check (assert, pytest.fail) is a kernel failure. swaplab's own errors
    # (InfraError, RemoteError) and any other exception, a bug of the harness included, are not.
    if call.excinfo is not None and not call.excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        report.user_properties.append(("swaplab_error", True))
    return report


class Collector:
    def __init__(self, log: Callable[[str], None], journal: Journal | None = None, blades: list[str] | None = None,
                 ) -> None:  # fmt: skip
        self.log = log
        self.journal = journal
        self.blades = blades or []
        self.cases: list[Case] = []
        self._nodeids: dict[int, str] = {}  # id(case) -> node id
        self.exit_status = 0
        self._open: dict[str, Case] = {}
        self._ran: set[str] = set()
        self._unneeded: set[str] = set()
        self.collect_errors: list[str] = []
        self._planned: set[str] = set()

    # -- the journal: what was planned, what started (each finished case is journaled in _announce) --
    def planned_case(self, nodeid: str) -> Planned:
        blade = blade_of(nodeid, self.blades) or "?"
        module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        return Planned(nodeid, blade, module.removeprefix("test_"), _name(nodeid, blade))

    def _plan(self, nodeids: list[str]) -> None:
        """Journal each planned case once: under xdist every worker collects every blade's cases, and
        journaling each worker's collection made the journal grow with the square of the rack."""
        new = [n for n in dict.fromkeys(nodeids) if n not in self._planned]
        self._planned.update(new)
        if self.journal is not None and new:
            self.journal.planned([self.planned_case(n) for n in new])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._plan([item.nodeid for item in session.items])  # empty under xdist: its workers collect

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self._plan(list(ids))

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        if self.journal is not None:
            self.journal.started(nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr)[-MAX_DETAILS:])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid in self._unneeded:
            return
        props = dict(report.user_properties)
        blade = str(props.get("swaplab_blade", "?"))
        case = self._open.get(report.nodeid)
        if case is None:
            module = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
            suite = module.removeprefix("test_")  # the suite's one name (swaplab.options.SUITES)
            case = Case(blade, suite, _name(report.nodeid, blade), "passed")
            self._open[report.nodeid] = case
            self._nodeids[id(case)] = report.nodeid
            self.cases.append(case)
        case.seconds += report.duration
        if report.when == "call" or report.failed or report.skipped:
            self._ran.add(report.nodeid)
        for key, value in report.user_properties:
            # Each phase's report (setup, call, teardown) carries the properties recorded so far.
            if key == RECORD_KEY and isinstance(value, dict):
                try:
                    record = from_json(value)
                except ValueError as e:  # a suite's bug: the case cannot be trusted
                    case.outcome, case.message = "error", f"swaplab recorded a malformed record: {e}"
                    continue
                if record not in case.records:
                    case.records.append(record)
            elif key == ATTACHMENT_KEY and value not in case.attachments:
                case.attachments.append(str(value))
        if report.skipped and any(key == UNNEEDED_KEY for key, _ in report.user_properties):
            # Not needed (a trial pair after --precision was reached): left out, not a skip.
            self.cases.remove(case)
            del self._open[report.nodeid]
            self._unneeded.add(report.nodeid)
            if self.journal is not None:
                self.journal.unneeded(report.nodeid)
            return
        if report.skipped and case.outcome == "passed":
            case.outcome = "skipped"
            case.message = _message(report)
        elif report.failed:
            infra = report.when != "call" or props.get("swaplab_error")
            if case.outcome not in ("failed", "error"):
                case.outcome = "error" if infra else "failed"
                case.message = _message(report)
                case.details = str(report.longrepr)[-MAX_DETAILS:]
        if report.when == "teardown":
            self._announce(case)

    def _announce(self, case: Case) -> None:
        if self.journal is not None:
            self.journal.finished(case, self._nodeids.get(id(case), ""))
        mark = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}[case.outcome]
        self.log(f"  {mark:5} {case.blade} {case.name} ({case.seconds:.0f} s)"
                 + (f": {case.message[:200]}" if case.outcome in ("failed", "error") else ""))  # fmt: skip

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A case whose test body never reported (an interrupted run) is not a pass."""
        for nodeid, case in self._open.items():
            if nodeid not in self._ran and case.outcome == "passed":
                case.outcome = "error"
                case.message = "did not finish: the run was interrupted"
                if self.journal is not None:
                    self.journal.finished(case, nodeid)

    def load_seconds(self) -> float:
        """Wall time in loads: the busiest blade's sum (blades run their loads in parallel)."""
        per_blade: dict[str, float] = {}
        for c in self.cases:
            per_blade[c.blade] = per_blade.get(c.blade, 0.0) + sum(f.wall_s for f in c.of(LoadFigures))
        return max(per_blade.values(), default=0.0)

    def errors_text(self) -> str:
        return "\n".join(self.collect_errors)[-MAX_DETAILS:]


def _params(nodeid: str) -> tuple[str, str | None]:
    """``(function, parameter id)`` of a node id; under xdist's loadgroup the id ends in ``@<group>``
    (``test_hog[r1-b01-t1-nfs]@r1-b01``), which goes."""
    name = nodeid.split("::")[-1]
    if "@" in name and not name.endswith("]"):
        name = name.rsplit("@", 1)[0]
    if "[" not in name or not name.endswith("]"):
        return name, None
    base, params = name[:-1].split("[", 1)
    return base, params


def _without(params: str, blade: str) -> str | None:
    """The parameter id with the blade's own part taken out, or None if the blade is not a whole part of it.
    The blade is parametrized by the suites' conftest, ahead of the parameters of the test's own marks
    (``test_hog[r1-b01-t1-nfs]``) or behind them (``test_fio[nbd-r1-b01]``); parts are joined by ``-``, and
    host names hold hyphens too, so the blade is matched whole, at the start, the end, or between parts."""
    if params == blade:
        return ""
    if params.startswith(blade + "-"):
        return params[len(blade) + 1 :]
    if params.endswith("-" + blade):
        return params[: -len(blade) - 1]
    head, sep, tail = params.partition("-" + blade + "-")
    return f"{head}-{tail}" if sep else None


def blade_of(nodeid: str, blades: list[str]) -> str | None:
    """The blade a node id is parametrized with: of the run's blades whose name is a whole part of its
    parameter id, the longest (``r1-b01-x`` over ``r1-b01``)."""
    params = _params(nodeid)[1]
    if params is None:
        return None
    fits = [b for b in blades if _without(params, b) is not None]
    return max(fits, key=len) if fits else None


def _name(nodeid: str, blade: str) -> str:
    """``test_hog[r1-b01-t1-nfs]`` -> ``test_hog[t1-nfs]`` (the blade is the testsuite)."""
    base, params = _params(nodeid)
    if params is None:
        return base
    rest = _without(params, blade)
    if rest is None:
        return f"{base}[{params}]"
    return f"{base}[{rest}]" if rest else base


def _message(report: pytest.TestReport) -> str:
    """What the check said, without the exception's name or pytest's restatement of the assertion
    (``assert not [...]``, ``+  where ...``): the suites' messages are written for people."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        msg = str(crash.message)
        for prefix in ("AssertionError: ", "swaplab.fleet.settings.InfraError: ", "swaplab.fleet.remote.RemoteError: "):
            msg = msg.removeprefix(prefix)
        lines = msg.split("\n")
        cut = next((i for i, ln in enumerate(lines) if i and ln.startswith(("assert ", " +  where", "+  where"))),
                   len(lines))  # fmt: skip
        # pytest indents an assertion message's later lines by two spaces: they are the suite's own lines.
        kept = lines[:1] + [ln.removeprefix("  ") for ln in lines[1:cut]]
        return "\n".join(kept).strip() or msg
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    return str(report.longrepr)[:500]
