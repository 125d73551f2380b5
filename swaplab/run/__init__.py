"""`swaplab run`: the main job, as a plan of stages over one typed context.

Validate everything first (``checks``): the options, the inventory and the kernel under test, and the
history's options when one is kept; every problem is reported at once (exit 2) before a run directory
exists or a machine starts. Then ``stages.plan`` lays out the run: the virtual lab (unless an inventory
is given), the blades, how they are made ready (provisioned, resumed, or as they are), the suites, a
confirming rerun of first failures (with a history), the blades' properties; and whatever happened, the
lab this run started brought down (unless ``--keep``), the outputs written (``junit.xml``,
``results.json``, ``report.html``) and the night remembered. ``context.execute`` is the one loop.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from swaplab import errors, machine, repo
from swaplab.history.nightly import HistoryOptions
from swaplab.kernel import build, under_test
from swaplab.kernel.under_test import KernelUnderTest
from swaplab.options import RunOptions
from swaplab.repo import HOME, VIRTUAL_INVENTORY
from swaplab.report import journal
from swaplab.textsafe import shown

from .checks import (
    Checked,
    Log,
    RunError,
    limit_problems,
    new_run_dir,
    planned_loads,
    resume_options,
    select_blades,
    validate,
    virtual,
)  # fmt: skip
from .context import RunContext, execute
from .remember import Confirm, Remember
from .stages import plan
from .suites import ProgressFollower

__all__ = [
    "VIRTUAL_INVENTORY", "Checked", "ProgressFollower", "Run", "RunError", "limit_problems", "main", "planned_loads",
    "resume_options", "select_blades", "validate",
]  # fmt: skip


class _History:
    """The history's stages for ``stages.plan``."""

    def __init__(self, opts: HistoryOptions) -> None:
        self.opts = opts

    def confirm_stage(self) -> Confirm:
        return Confirm(self.opts)

    def remember_stage(self) -> Remember:
        return Remember(self.opts)


class Run:
    """One run: validated, then its plan executed. ``execute`` returns (exit code, run directory)."""

    def __init__(self, opts: RunOptions, log: Log, history: HistoryOptions | None = None) -> None:
        self.opts = opts
        self.log = log
        self.history = history

    def execute(self) -> tuple[int, Path]:
        t0 = time.monotonic()
        deadline = time.time() + self.opts.run_budget_s if self.opts.run_budget_s else None
        checked = validate(self.opts, self.log)
        problems = checked.problems + (self.history.problems() if self.history else [])
        if problems or (checked.kernel is None and checked.source is None):
            raise RunError(problems or ["the kernel under test could not be resolved"])
        commit = repo.commit()  # now: the checkout may change while the run goes on
        run_dir = Path(self.opts.resume) if self.opts.resume else new_run_dir(self.opts.reports)
        source: dict[str, object] | None = None
        if checked.source is not None:  # everything else is known good: the kernel is built now
            kernel, source = self._build(checked.source, run_dir)
        else:
            assert checked.kernel is not None
            kernel = checked.kernel
        self.log(f"kernel under test: {kernel.release} ({Path(kernel.path).name})")
        prior = journal.read(Path(self.opts.resume)) if self.opts.resume else None
        if prior is not None and prior.kernel.sha256 != kernel.sha256:
            raise RunError([f"--resume {shown(self.opts.resume)}: the kernel differs from the interrupted run's "
                            f"({shown(prior.kernel.release, 80)}, sha256 {shown(prior.kernel.sha256)[:12]}): give "
                            "--kernel its package"])  # fmt: skip
        if prior is not None:
            self._same_blades(prior, checked)
        self.log(f"run directory: {run_dir}" + (" (resumed)" if prior else ""))
        ctx = RunContext(opts=self.opts, log=self.log, kernel=kernel, run_dir=run_dir, journal=journal.Journal(run_dir),
                         commit=commit, inventory=checked.inventory, prior=prior, deadline=deadline)  # fmt: skip
        ctx.extra["machine"] = {"host": machine.host()}  # before the lab loads the host
        if source is not None:
            ctx.extra["kernel_source"] = source
            if self.history is not None and not self.history.kernel_commit and source.get("commit"):
                self.history.kernel_commit = str(source["commit"])  # the night's kernel, by its commit
        stages, finish = plan(ctx, _History(self.history) if self.history else None, t0)
        execute(ctx, stages, finish)
        return ctx.exit_code, run_dir

    def _build(self, source: build.TreeInput, run_dir: Path) -> tuple[KernelUnderTest, dict[str, object]]:
        """``--kernel SOURCE_TREE``: built (or taken from the cache) into a package, its log in the run
        directory, then checked as any package is. A tree that does not build is exit 2 naming the log."""
        inp = build.source_input(source.tree, source.patches, source.kconfig, self.log)
        where = run_dir / "kernel-build"
        try:
            built = build.build(inp, HOME / ".cache" / "kernel-builds", where, self.log)
            kernel = under_test.resolve(str(built.deb), self.log)
        except (build.BuildInputError, build.BuildFailed, under_test.KernelError) as e:
            raise RunError([f"--kernel {shown(str(source.tree))}: {errors.message(e)} (the build's log, if it "
                            f"started: {where / 'build.log'})"]) from None  # fmt: skip
        return kernel, build.source_record(inp, built)

    def _same_blades(self, prior: journal.JournalState, checked: Checked) -> None:
        """``--resume``: the lab must have the interrupted run's blades, no more and no fewer (its finished cases
        would otherwise be dropped from the outputs, or another lab's stand for this one)."""
        inv = checked.inventory
        names = select_blades(inv, self.opts.limit) if inv is not None else self.opts.lab_blade_names()
        if sorted(names) != sorted(prior.blades):
            gone, new = sorted(set(prior.blades) - set(names)), sorted(set(names) - set(prior.blades))
            raise RunError([f"--resume {self.opts.resume}: that run's blades are not this lab's ("
                            + "; ".join(x for x in (f"not here: {', '.join(gone)}" if gone else "",
                                                    f"not in that run: {', '.join(new)}" if new else "") if x)
                            + "): resume it against the lab it ran on (its inventory and --limit)"])  # fmt: skip


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(opts: RunOptions, log: Log, history: HistoryOptions | None = None) -> int:
    # Jenkins aborts a job with SIGTERM: stop the tests, keep what finished, bring the lab down.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if opts.resume:
            opts = resume_options(opts)
        rc, run_dir = Run(opts, log, history).execute()
    except errors.BadInput as e:
        print("swaplab run: cannot start:\n  " + "\n  ".join(e.problems), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # only validation runs outside the run's own handling: nothing started
        print(f"swaplab run: interrupted ({e or 'SIGINT'}) while checking the options, the inventory and the "
              "kernel: nothing was started, nothing is left running", file=sys.stderr)  # fmt: skip
        return 2
    print(f"{run_dir}/", flush=True)
    return rc


_ = virtual  # re-exported for the suites and tests
