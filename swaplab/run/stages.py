"""The run's stages, in the order a plan runs them: the virtual lab, the blades, how they are made ready
(provisioned, resumed as they were, or tested as they are), the suites, a confirming rerun of first
failures, each blade's properties; and the finishing stages: the outputs and the history.

A resumed run is a plan, not a branch: ``plan()`` picks ``Resumed`` where a fresh run has ``Provision``.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from typing import Any

from swaplab import __version__, ansible_events, locks
from swaplab.ansible_events import BOOT_WAIT
from swaplab.inventory import load_and_validate
from swaplab.inventory.provider import RackProvider
from swaplab.provision import provision
from swaplab.records import Facts, RatioRecord
from swaplab.repo import HOME
from swaplab.report.model import BladeResult, Case, exit_code
from swaplab.report.outputs import write_outputs
from swaplab.report.results import RunResult, summary_text

from .checks import rack_provider, select_blades
from .context import RunContext, Stage, Step
from .suites import check_consoles, consoles, run_suites


class RackUp:
    """The run's rack brought up (``swaplab.inventory.provider.RackProvider``: the virtual lab's images
    built, its NAS and blades started, its inventory written), its inventory validated; brought down at the
    end, unless ``--keep``."""

    name = "lab"

    def __init__(self, provider: RackProvider) -> None:
        self.provider = provider

    def run(self, ctx: RunContext) -> None:
        with ctx.timed("lab_build"):
            self.provider.prepare(ctx.log)
        with ctx.timed("lab_up"):
            ctx.started_lab = True
            inventory = self.provider.up(ctx.log)
        ctx.inventory = load_and_validate(str(inventory))

    def cleanup(self, ctx: RunContext) -> None:
        if not ctx.started_lab:
            return
        if ctx.opts.keep:
            ctx.log(f"--keep: {self.provider.kind} stays up (`swaplab lab down` stops it)")
            return
        with ctx.timed("lab_down"):
            for left in self.provider.down(ctx.log):
                ctx.log(f"{self.provider.kind}: {left}")


class Blades(Step):
    """The blades under test, their consoles checked, the run's journal begun."""

    name = "blades"

    def run(self, ctx: RunContext) -> None:
        inv = ctx.inv
        ctx.names = select_blades(inv, ctx.opts.limit)
        ctx.powers = check_consoles(inv, ctx.names)
        # What the operator configured, per blade (compare judges on it, not on the kernel's MemTotal).
        ctx.extra["blade_memory_mib"] = {n: inv.hostvars.get(n, {}).get("swaplab_memory_mib") for n in ctx.names}
        if ctx.prior is None:
            ctx.journal.run(ctx.kernel_info, ctx.opts.to_json(), ctx.names)
        else:
            ctx.journal.write("resumed", options=ctx.opts.to_json())


PROVISION_WAIT_S = 3600  # another run's provisioning of the same NAS: a rack's takes minutes, not an hour


class Provision(Step):
    """The playbooks: NAS, kernel, blades, swap. A blade whose provisioning failed gets an ``<error>`` case
    and is not tested; a failed NAS is the cause of whatever its blades then report."""

    name = "provision"

    def run(self, ctx: RunContext) -> None:
        inv, names = ctx.inv, ctx.names
        limit = ",".join([inv.nas, *names]) if ctx.opts.limit else None
        # With --limit the NAS plays act on these blades' roots, kernels and swapfiles only (swaplab_acted_on).
        extra = {"swaplab_acted_on": names} if ctx.opts.limit else None
        # Runs from this controller that share the NAS provision it in turn (a bisection's groups of blades,
        # two jobs with --limit): its exports, DHCP and TFTP files are the NAS's, not one run's.
        lock = HOME / ".cache" / "locks" / f"provision-{hashlib.sha256(inv.nas.encode()).hexdigest()[:16]}.lock"
        with ctx.timed("provision"), locks.turn(lock, f"provisioning {inv.nas}", ctx.log, PROVISION_WAIT_S):
            res = provision(inv, ctx.opts.kernel, ctx.log, kvars=ctx.kvars, limit=limit,
                            artifacts=ctx.run_dir / "ansible", extra=extra)  # fmt: skip
        ctx.provision_tasks = {k: round(v, 1) for k, v in res.task_seconds.items()}
        ctx.timings["blade_boot"] = sum(res.mark_seconds.get(m, 0.0) for m in (ansible_events.POWER, BOOT_WAIT))
        for name in names:
            b = BladeResult(name)
            nas_failure = res.failed_hosts.get(inv.nas)
            failure = f"the NAS failed, the blade was not touched: {nas_failure}" if nas_failure else None
            failure = failure or res.failed_hosts.get(name)
            if failure is None and not res.ok and not res.failed_hosts:
                failure = "; ".join(res.failures) or "provisioning failed"
            if failure:
                b.cases.append(Case(name, "provision", "provision", "error", res.seconds, message=failure))
            else:
                b.cases.append(Case(name, "provision", "provision", "passed", res.seconds,
                                    records=[Facts({"changed": res.changed.get(name, 0)})]))  # fmt: skip
            ctx.blades.append(b)
            for case in b.cases:
                ctx.journal.finished(case)


class Resumed(Step):
    """``--resume``: the interrupted run's finished cases stand; its blades are tested as it left them."""

    name = "resumed"

    def run(self, ctx: RunContext) -> None:
        assert ctx.prior is not None
        ctx.blades = [BladeResult(n, cases=[c for _, c in ctx.prior.finished if c.blade == n]) for n in ctx.names]
        ctx.log(f"--resume: {len(ctx.prior.finished)} finished case(s) kept; the lab is tested as it is")


class AsIs(Step):
    name = "as-is"

    def run(self, ctx: RunContext) -> None:
        ctx.log("--no-provision: testing the lab as it is")
        ctx.blades = [BladeResult(n) for n in ctx.names]


class Suites:
    """The fleet suites on every blade that was made ready. The blades' consoles stay open until the run's
    cleanup (a confirming rerun watches the same ones)."""

    name = "tests"

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()

    def run(self, ctx: RunContext) -> None:
        ok = [b.name for b in ctx.blades if not any(c.outcome == "error" and c.suite == "provision" for c in b.cases)]
        if not ok:
            return
        ctx.consoles = self.stack.enter_context(consoles(ctx, ok, ctx.run_dir))
        with ctx.timed("tests"):
            collector = run_suites(ctx, ok)
        ctx.timings["loads"] = collector.load_seconds()
        by_name = ctx.by_name()
        for case in collector.cases:
            by_name[case.blade].cases.append(case)
        ctx.extra["pytest_exit"] = collector.exit_status
        incidents = ctx.extra.setdefault("nas_incidents", [])
        for inc in incidents:  # one line per outage of the NAS, however many blades it hit
            end, start = inc["end"], inc["start"] or 0.0
            took = f"for {end - start:.0f} s" if end is not None else "until the tests ended"
            ctx.log(f"NAS {ctx.inv.nas}: did not answer {took} (one infrastructure incident; the blades it "
                    "silenced were not power-cycled)")  # fmt: skip
        if collector.exit_status not in (0, 1):
            for name in ok:
                by_name[name].cases.append(Case(name, "run", "fleet_suites", "error",
                                                message=f"pytest ended with status {collector.exit_status}",
                                                details=collector.errors_text()))  # fmt: skip

    def cleanup(self, ctx: RunContext) -> None:
        ctx.consoles = None
        self.stack.close()


class Properties(Step):
    """Each blade's JUnit properties: the kernel, swaplab, the NAS, the mount, the ratio."""

    name = "properties"

    def run(self, ctx: RunContext) -> None:
        inv, kv = ctx.inv, ctx.kvars
        hw = ctx.extra.setdefault("hw_class", {})
        calibrated = ctx.extra.setdefault("machine", {}).setdefault("blades", {})
        for b in ctx.blades:
            props = {"kernel.release": str(kv.get("release", "")), "kernel.sha256": str(kv.get("sha256", "")),
                     "kernel.file": Path(str(kv.get("path", ""))).name, "swaplab.version": __version__,
                     "swaplab.commit": ctx.commit, "nas": f"{inv.nas} ({inv.nas_address})"}  # fmt: skip
            if b.name in inv.blades:
                hw[b.name] = props["hw.class"] = inv.hw_class(b.name)
            if isinstance(src := ctx.extra.get("kernel_source"), dict):  # --kernel SOURCE_TREE
                props["kernel.source.tree"] = str(src.get("tree"))
                props["kernel.source.commit"] = str(src.get("commit") or "(uncommitted: by content)")
                props["kernel.source.patches"] = ", ".join(str(p.get("name")) for p in src.get("patches") or [])
                props["kernel.source.config"] = str(src.get("config"))
            for facts in b.of(Facts):
                if "nfs_mount_options" in facts.values:
                    props["nfs.mount_options"] = str(facts.values["nfs_mount_options"])
                if "calibration_hash_mib_s" in facts.values:  # test_reachable's (swaplab.machine)
                    calibrated[b.name] = {"hash_mib_s": facts.values["calibration_hash_mib_s"],
                                          "cpus": facts.values.get("calibration_cpus")}  # fmt: skip
            for r in b.of(RatioRecord):
                props["ratio.nfs_nbd"] = f"{r.ratio:.3f}"
                props["ratio.ci95"] = (f"{r.ci95_low:.3f}-{r.ci95_high:.3f}" if r.ci95_low is not None
                                       and r.ci95_high is not None else "n/a (one pair)")  # fmt: skip
                props["ratio.gate"] = str(r.gate)
                props["ratio.pairs"] = str(r.pairs)
                if r.precision_pct:
                    props["ratio.precision"] = (f"+-{r.precision_pct:g}% " + ("reached" if r.precision_reached
                                                else f"NOT reached (stopped: {r.stop})"))  # fmt: skip
            b.properties.update(props)


def result_of(ctx: RunContext) -> RunResult:
    return RunResult(exit_code=exit_code(ctx.blades), kernel=ctx.kernel_info, blades=ctx.blades,
                     options=ctx.opts.to_json() | ctx.extra, timings_s=ctx.timings,
                     provision_tasks_s=ctx.provision_tasks)  # fmt: skip


class Outputs(Step):
    """results.json, junit.xml and report.html; the journal's end."""

    name = "outputs"

    def __init__(self, t0: float) -> None:
        self.t0 = t0

    def run(self, ctx: RunContext) -> None:
        ctx.timings["total"] = time.monotonic() - self.t0
        result = result_of(ctx)
        ctx.exit_code = result.exit_code
        write_outputs(ctx.run_dir, result, ctx.log)
        ctx.journal.write("done", exit_code=result.exit_code)
        ctx.log(summary_text(result))


def plan(ctx: RunContext, history: Any = None, t0: float | None = None) -> tuple[list[Stage], list[Stage]]:
    """The stages of this run, and those that finish it whatever happened."""
    stages: list[Stage] = [RackUp(rack_provider(ctx.opts))] if ctx.inventory is None else []
    stages.append(Blades())
    stages.append(Resumed() if ctx.prior is not None else Provision() if ctx.opts.provision else AsIs())
    stages.append(Suites())
    if history is not None:
        stages.append(history.confirm_stage())
    stages.append(Properties())
    finish: list[Stage] = [Outputs(time.monotonic() if t0 is None else t0)]
    if history is not None:
        finish.append(history.remember_stage())
    return stages, finish
