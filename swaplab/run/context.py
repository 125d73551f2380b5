"""A run's typed context, and the one loop that runs its stages.

A stage (LAVA's action, labgrid's strategy step) has a name, ``run(ctx)`` and ``cleanup(ctx)``. The loop
runs the plan's stages in order, times and journals each, and on any exception stops: the error's type
(``swaplab.errors``) becomes the run's own ``<error>`` or ``<failure>`` case. Then, whatever happened,
every stage that started is cleaned up, last first (the lab brought down), and the ``finish`` stages
(outputs, the history) run on what the run has.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from swaplab import errors
from swaplab.inventory import Inventory
from swaplab.kernel.under_test import KernelUnderTest
from swaplab.options import RunOptions
from swaplab.report.journal import Journal, JournalState
from swaplab.report.model import BladeResult, Case
from swaplab.report.results import KernelRecord

Log = Callable[[str], None]


@dataclass
class RunContext:
    """What a run knows, typed, handed from stage to stage."""

    opts: RunOptions
    log: Log
    kernel: KernelUnderTest
    run_dir: Path
    journal: Journal
    commit: str  # the checkout's, taken at the start (it may change while the run goes on)
    inventory: Inventory | None = None  # validated once; the virtual lab's once `lab up` has written it
    prior: JournalState | None = None  # --resume: the interrupted run's journal
    names: list[str] = field(default_factory=list)  # the blades under test
    blades: list[BladeResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # what the run adds to results.json's options
    timings: dict[str, float] = field(default_factory=dict)
    provision_tasks: dict[str, float] = field(default_factory=dict)
    powers: dict[str, dict[str, Any]] = field(default_factory=dict)  # blade -> power settings (SOL consoles)
    consoles: dict[str, dict[str, str]] | None = None  # each blade's console, open from the suites to the end
    started_lab: bool = False
    exit_code: int = 2
    deadline: float | None = None  # --run-budget: when the run should be over (seconds since the epoch)

    @property
    def kvars(self) -> dict[str, Any]:
        """The kernel as the playbooks and the suites' settings take it."""
        return self.kernel.ansible_vars()

    @property
    def kernel_info(self) -> KernelRecord:
        return KernelRecord.of(self.kvars)

    @property
    def inv(self) -> Inventory:
        assert self.inventory is not None, "a stage that needs the inventory ran before it was loaded"
        return self.inventory

    def by_name(self) -> dict[str, BladeResult]:
        return {b.name: b for b in self.blades}

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time one stage (``rundir.STAGES`` and the run's other timings): the one place they are timed."""
        t = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = time.monotonic() - t


class Stage(Protocol):
    name: str

    def run(self, ctx: RunContext) -> None: ...

    def cleanup(self, ctx: RunContext) -> None: ...


class Step:
    """A stage with nothing to clean up."""

    name = "step"

    def run(self, ctx: RunContext) -> None:
        raise NotImplementedError

    def cleanup(self, ctx: RunContext) -> None:
        return None


def run_case(exc: BaseException, name: str) -> Case:
    """The run's own case for an exception that ended it: its kind (errors.py) decides ``<error>`` or
    ``<failure>``; swaplab's own bug carries its traceback."""
    kind = errors.kind_of(exc)
    details = traceback.format_exc() if kind is errors.SwaplabBug else ""
    outcome = "failed" if kind.junit == "failure" else "error"
    return Case("run", "run", name, outcome, message=errors.message(exc), details=details)


def execute(ctx: RunContext, plan: list[Stage], finish: list[Stage]) -> None:
    """Run ``plan``; clean up what started, last first; then ``finish``, each on its own."""
    started: list[Stage] = []
    try:
        for stage in plan:
            started.append(stage)
            stage.run(ctx)
    except (Exception, KeyboardInterrupt) as e:  # one boundary: the error's type says whose fault
        ctx.blades.append(BladeResult("run", cases=[run_case(e, "infrastructure")]))
        ctx.log(f"swaplab run: {errors.message(e)}")
    finally:
        for stage in reversed(started):
            try:
                stage.cleanup(ctx)
            except Exception as e:  # a lab that cannot be brought down is reported, not raised past the report
                ctx.log(f"swaplab run: {stage.name} cleanup failed: {errors.message(e)}")
                ctx.blades.append(BladeResult("run", cases=[run_case(e, "lab_down")]))
    for b in ctx.blades:
        for case in b.cases:
            if case.blade == "run":
                ctx.journal.finished(case)
    for stage in finish:
        try:
            stage.run(ctx)
        except Exception as e:  # an output or the history failing costs neither the others nor the verdict
            ctx.log(f"swaplab run: {stage.name}: {errors.message(e)}")
            ctx.exit_code = max(ctx.exit_code, errors.exit_code(e)) if ctx.exit_code != 1 else 1
