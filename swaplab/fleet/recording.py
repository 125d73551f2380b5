"""The one way the fleet suites report figures: typed records (``swaplab.records``) and attachments.

A test takes the ``record`` fixture (``tests/fleet/conftest.py``), a ``Recorder`` over pytest's
``record_property``: each record travels as its JSON form under ``swaplab_record`` (pytest-xdist
carries user properties between processes), each attachment under ``attachment``;
``swaplab.report.collect`` turns them back into records on the controller.

The checks that several suites share live here too, so that a suite file holds only its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from swaplab.fleet import fio
from swaplab.fleet.judge import hog_problems
from swaplab.fleet.outcome import LoadReport
from swaplab.records import ATTACHMENT_KEY, RECORD_KEY, Facts, FioJob, FioRun, HogTrial, Record, to_json


class Recorder:
    def __init__(self, record_property: Callable[[str, object], None]) -> None:
        self._property = record_property

    def add(self, *records: Record) -> None:
        for r in records:
            self._property(RECORD_KEY, to_json(r))

    def attach(self, *paths: str) -> None:
        for p in paths:
            self._property(ATTACHMENT_KEY, str(p))

    def load(self, report: LoadReport, store: str | None) -> None:
        """A load's figures, its findings (with their times) and its files."""
        self.add(report.figures(store), *report.findings)
        if report.recovery is not None:
            self.add(report.recovery)
        if report.fault is not None:
            self.add(report.fault)
        if report.first_contact is not None:
            self.add(Facts(report.first_contact))  # the health baseline of a later session over this run
        self.attach(*report.attachments)


MAX_PROBLEMS_LISTED = 20


def problems_message(problems: list[str], what: str = "kernel problems") -> str:
    """A failed check's message for a person: the first problem itself on the first line (Jenkins shows that
    line), then the others, counted."""
    if len(problems) <= 1:
        return "".join(problems)
    listed = problems[1:MAX_PROBLEMS_LISTED]
    more = len(problems) - 1 - len(listed)
    return (f"{problems[0]}\n({len(problems)} {what} in all; the others:)\n" + "\n".join(listed)
            + (f"\n... and {more} more" if more else ""))  # fmt: skip


def assert_kernel_ok(report: LoadReport) -> None:
    v = report.verdict
    assert not v.failures, problems_message(v.failures)


def fio_run(store: str, under_pressure: bool, results: dict[str, dict[str, Any]]) -> FioRun:
    jobs = tuple(
        FioJob(job=name, rw=r["rw"], bw_mib_s=r["bw_mib_s"], iops=r["iops"], p99_ms=r["p99_ms"],
               runtime_s=r["runtime_s"], io_mib=r["io_mib"])
        for name, r in sorted(results.items())
    )  # fmt: skip
    return FioRun(store=store, under_pressure=under_pressure, jobs=jobs)


def fio_results(report: LoadReport, name: str) -> dict[str, dict[str, Any]]:
    """fio's parsed JSON output; a failed check if it gave none."""
    try:
        return fio.parse(report.outcome.text(name))
    except ValueError as e:
        raise AssertionError(
            f"fio gave no usable result ({e}); stderr: {report.outcome.text('stderr')[-500:]}"
        ) from None


def hog_trial(store: str, trial: int | None, result: dict[str, Any]) -> HogTrial:
    """The hog's result file as a record (status ``none`` when it left no result)."""
    delta = result.get("vmstat_delta") or {}
    mib = result.get("mib")
    return HogTrial(store=store, trial=trial, status=str(result.get("status", "none")),
                    total_s=result.get("total_s"), swap_mib_per_s=result.get("swap_mib_per_s"),
                    mib=int(mib) if isinstance(mib, int | float) else None, bad_pages=int(result.get("bad_pages", 0)),
                    pswpin=delta.get("pswpin"), pswpout=delta.get("pswpout"),
                    mem_total_kib=result.get("mem_total_kib"), swap_total_kib=result.get("swap_total_kib"))  # fmt: skip


def assert_hog_ok(report: LoadReport, result: dict[str, Any]) -> None:
    o = report.outcome
    problems = hog_problems(result, o.rc, o.text("progress.json"), o.text("stderr"))
    assert not problems, "; ".join(problems)
