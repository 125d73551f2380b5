"""`swaplab run`: the main job. Validate, (bring up the virtual lab,) provision, test, report.

The order is the rule "validate everything before acting": the options, the
inventory and the kernel under test are all checked first, and every problem
is reported at once (exit 2) before a run directory exists or a machine starts.

Then: the virtual lab (unless an inventory is given) is built if needed and
brought up, the playbooks provision it, the fleet suites run under pytest, and
the run directory gets ``junit.xml``, ``results.json`` and ``report.html``.
Blades whose provisioning failed get an ``<error>`` case and are not tested;
the others are. The lab this run started is brought down at the end (unless
``--keep``), whatever happened; a lab it found running is left running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from swaplab import __version__, ansible_events, errors
from swaplab.ansible_events import BOOT_WAIT
from swaplab.credentials import CredentialsError, resolve_powers
from swaplab.drivers import power_driver
from swaplab.drivers.ipmidriver import IPMIError, IPMIPowerDriver
from swaplab.drivers.solconsole import SOLRecorder
from swaplab.fleet import nas_probe
from swaplab.fleet.nas_sampler import NasSampler
from swaplab.fleet.remote import Remote, ssh_config
from swaplab.fleet.settings import Settings
from swaplab.inventory import Inventory, InventoryError, load_and_validate
from swaplab.kernel import under_test
from swaplab.lab import bmc as vbmc
from swaplab.lab import hostnas, machines
from swaplab.lab.faults import FaultSpec
from swaplab.lab.paths import LabPaths
from swaplab.labshape import LabShape
from swaplab.options import RANGES, SUITES, RunOptions, range_problem
from swaplab.provision import ProvisionResult, lab_problems, provision
from swaplab.records import Facts, HogTrial, RatioRecord, to_json
from swaplab.repo import ROOT
from swaplab.report import collect, journal
from swaplab.report.model import BladeResult, Case, exit_code
from swaplab.report.outputs import write_outputs
from swaplab.report.results import KernelInfo, RunResult, summary_text
from swaplab.rundir import CONTEXT, NAS_PROBE, PROGRESS_LOG, STAGES
from swaplab.textsafe import shown

Log = Callable[[str], None]
BMC_CHECKS_AT_ONCE = 16  # BMCs asked at once before a run (each answers in about a second)
VIRTUAL_INVENTORY = ROOT / "inventories" / "virtual" / "hosts.yml"


class RunError(errors.BadInput):
    """The run cannot start (exit 2, nothing started); ``problems`` lists every reason found."""


def planned_loads(opts: RunOptions) -> list[str]:
    """The loads a run with these options may run on each blade (their ids: a fault names one)."""
    out = []
    if "fio" in opts.suites:
        out += ["fio-nfs", "fio-nbd", "fio-hog-nfs", "fio-hog-nbd"]
    if "hog" in opts.suites:
        out += [f"hog-t{t}-{s}" for t in range(1, opts.trial_plan().maximum + 1) for s in ("nfs", "nbd")]
    return out


def limit_problems(limit: str, blades: list[str], where: str) -> list[str]:
    """``--limit``: comma-separated patterns, each of which must match a blade (an empty one is refused)."""
    patterns = _patterns(limit)
    if not any(patterns):
        return [f"--limit {limit!r} names no pattern: name blades (fnmatch patterns, comma-separated), or leave it out"]
    out = [f"--limit {limit!r}: an empty pattern between commas"] if "" in patterns else []
    for p in filter(None, patterns):
        if not fnmatch.filter(blades, p):
            out.append(f"--limit pattern {p!r} matches no blade of {where}: its blades are {', '.join(sorted(blades))}")
    return out


def _patterns(limit: str) -> list[str]:
    return [p.strip() for p in limit.split(",")]


def select_blades(inv: Inventory, limit: str | None) -> list[str]:
    blades = list(inv.blades)
    if not limit:
        return sorted(blades)
    patterns = [p for p in _patterns(limit) if p]
    return sorted(b for b in blades if any(fnmatch.fnmatch(b, p) for p in patterns))


@dataclasses.dataclass
class Checked:
    """What a run's validation found: every problem at once, and what passed: the inventory, loaded once
    (None for the virtual lab, whose inventory `lab up` writes), and the kernel under test's variables."""

    problems: list[str]
    inventory: Inventory | None = None
    kvars: dict[str, Any] = dataclasses.field(default_factory=dict)


def validate(opts: RunOptions, log: Log) -> Checked:
    """The run's three checks, each of its own stage and all reported together: the options, the inventory
    (or the virtual lab it will bring up), the kernel under test."""
    inv, inv_problems = _inventory_checked(opts)
    kvars, kernel_problems = _kernel_checked(opts, log)
    return Checked(_option_problems(opts) + inv_problems + kernel_problems, inv, kvars)


def _option_problems(opts: RunOptions) -> list[str]:
    problems: list[str] = []
    # Every ranged option of a run; the virtual lab's --blades and --blade-memory are checked below.
    ranged = [
        f for f in dataclasses.fields(RunOptions) if f.name in RANGES and f.name not in ("blades", "blade_memory")
    ]
    for option, key, value in ((f.metadata["flag"], f.name, getattr(opts, f.name)) for f in ranged):
        if problem := range_problem(option, key, value):
            problems.append(problem + (" (3 or more trials give a confidence interval)" if key == "trials" else ""))
    if opts.inventory is None and (problem := range_problem("--blades", "blades", opts.blades)):
        problems.append(problem + " (virtual lab blades)")
    if opts.names and opts.inventory is not None:
        problems.append("--names is for the virtual lab: a lab's inventory names its blades")
    elif opts.names and (problem := machines.names_problem(opts.names, opts.blades)):
        problems.append(problem)
    unknown = [s for s in opts.suites if s not in SUITES]
    if not opts.suites:
        problems.append(f"--suite is empty: name at least one of {', '.join(SUITES)}")
    if unknown:
        problems.append(f"--suite {','.join(unknown)}: unknown; choose from {', '.join(SUITES)}")
    if opts.precision_pct and opts.max_trials < opts.trials:
        problems.append(f"--max-trials {opts.max_trials} is below --trials {opts.trials}: with --precision, "
                        "--trials is the least number of pairs and --max-trials the most")  # fmt: skip
    if "verdict" in opts.suites and "hog" not in opts.suites:
        problems.append("--suite verdict needs the hog suite too (the ratio comes from the hog trials)")
    if opts.inventory is None and (problem := machines.blade_memory_problem(opts.blade_memory)):
        problems.append(problem)
    if opts.inventory is None and opts.nas == "host":
        problems += hostnas.problems()
    problems += opts.shape.problems()
    if opts.inventory is not None:
        problems += [f"--{key} is for the virtual lab: a lab's inventory says {what}"
                     for key, what in (("bmc", "how each blade is powered"), ("dhcp", "who hands out addresses"))
                     if getattr(opts, key) != getattr(LabShape, key)]  # fmt: skip
    password = os.environ.get(vbmc.PASSWORD_ENV, "").encode()
    if opts.inventory is None and opts.bmc == "ipmi" and len(password) > vbmc.IPMI_MAX_PASSWORD:
        problems.append(
            f"{vbmc.PASSWORD_ENV} is longer than IPMI's {vbmc.IPMI_MAX_PASSWORD} bytes: choose a shorter one"
        )
    if opts.fault:
        try:
            spec = FaultSpec.parse(opts.fault)
        except ValueError as e:
            problems.append(f"--fault {opts.fault!r}: {e}")
        else:
            loads = planned_loads(opts)
            if spec.load not in loads:
                problems.append(
                    f"--fault {opts.fault!r}: this run has no load {spec.load!r} (with --suite "
                    f"{','.join(opts.suites)}: {', '.join(loads) or 'none'}): the fault would never fire"
                )
        if opts.inventory is not None and not _virtual(opts.inventory):
            problems.append("--fault is for the virtual lab: a rack's machines have no fault switch")
    if not opts.provision and opts.inventory is None:
        problems.append("--no-provision needs -i INVENTORY (a virtual lab brought up by `swaplab run` is new)")
    return problems


def _inventory_checked(opts: RunOptions) -> tuple[Inventory | None, list[str]]:
    problems: list[str] = []
    inv: Inventory | None = None
    if opts.inventory is not None:
        try:
            inv = load_and_validate(opts.inventory)
        except InventoryError as e:
            problems += e.problems
        else:
            if opts.limit is not None and (found := limit_problems(opts.limit, list(inv.blades), opts.inventory)):
                problems += found
            else:
                problems += lab_problems(inv, select_blades(inv, opts.limit), provisioned=opts.provision)
    else:
        if machines.running(LabPaths.default()):
            problems.append(
                f"a virtual lab is already up in {LabPaths.default().run}: `swaplab run` brings up its own; "
                "run `swaplab lab down` first, or pass -i inventories/virtual/hosts.yml to test that lab"
            )
    if opts.inventory is None and opts.limit is not None:
        problems += limit_problems(opts.limit, opts.lab_blade_names(), "the virtual lab")
    return inv, problems


def _kernel_checked(opts: RunOptions, log: Log) -> tuple[dict[str, Any], list[str]]:
    if problem := under_test.missing(opts.kernel):
        return {}, [problem]
    try:
        return under_test.resolve(opts.kernel, log).ansible_vars(), []
    except under_test.KernelError as e:
        return {}, [str(e)]


def _git_commit() -> str:
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                       check=False)  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    return (r.stdout.strip() or "unknown") + ("-dirty" if dirty else "")


def new_run_dir(reports: Path) -> Path:
    reports.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir = reports / stamp
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = reports / f"{stamp}-{n}"
    run_dir.mkdir()
    latest = reports / "latest"
    tmp = reports / ".latest.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)
    return run_dir


class Run:
    def __init__(self, opts: RunOptions, log: Log) -> None:
        self.opts = opts
        self.log = log
        self.timings: dict[str, float] = {}
        self.started_lab = False
        self.provision_tasks: dict[str, float] = {}
        self.recorders: list[SOLRecorder] = []
        self.powers: dict[str, dict[str, Any]] = {}  # blade -> its power settings, resolved (SOL consoles only)
        self.nas_incidents: list[dict[str, float | None]] = []  # the NAS's outages the prober saw
        self.journal: journal.Journal  # in the run directory, once there is one

    def execute(self) -> tuple[int, Path]:
        t0 = time.monotonic()
        checked = validate(self.opts, self.log)
        if checked.problems:
            raise RunError(checked.problems)
        kvars = checked.kvars
        self.log(f"kernel under test: {kvars['release']} ({Path(kvars['path']).name})")
        commit = _git_commit()  # now: the checkout may change while the run goes on
        prior = journal.read(Path(self.opts.resume)) if self.opts.resume else None
        if prior is not None and prior.kernel.sha256 != kvars.get("sha256"):
            raise RunError([f"--resume {shown(self.opts.resume)}: the kernel differs from the interrupted run's "
                            f"({shown(prior.kernel.release, 80)}, sha256 {shown(prior.kernel.sha256)[:12]}): give "
                            "--kernel its package"])  # fmt: skip
        if prior is not None:
            self._same_blades(prior, checked.inventory)
        run_dir = Path(self.opts.resume) if self.opts.resume else new_run_dir(self.opts.reports)
        self.journal = journal.Journal(run_dir)
        self.log(f"run directory: {run_dir}" + (" (resumed)" if prior else ""))
        blades: list[BladeResult] = []
        extra: dict[str, Any] = {}
        try:
            # The inventory validated above; the virtual lab's, once `lab up` has written it.
            inv = checked.inventory or load_and_validate(self._lab())
            names = select_blades(inv, self.opts.limit)
            self._check_consoles(inv, names)
            nas = inv.nas
            # What the operator configured, per blade (compare judges on it, not on the kernel's MemTotal).
            extra["blade_memory_mib"] = {n: inv.hostvars.get(n, {}).get("swaplab_memory_mib") for n in names}
            if prior is None:
                self.journal.run(KernelInfo.of(kvars), self.opts.to_json(), names)
            else:
                self.journal.write("resumed", options=self.opts.to_json())
            if prior is not None:
                # The interrupted run's finished cases stand; its blades are as it left them.
                blades = [BladeResult(n, cases=[c for _, c in prior.finished if c.blade == n]) for n in names]
                self.log(f"--resume: {len(prior.finished)} finished case(s) kept; the lab is tested as it is")
            elif self.opts.provision:
                res = self._provision(inv, kvars, names, nas, run_dir)
                blades = self._provision_cases(names, nas, res)
                for b in blades:
                    for case in b.cases:
                        self.journal.finished(case)
            else:
                self.log("--no-provision: testing the lab as it is")
                blades = [BladeResult(n) for n in names]
            ok = [b.name for b in blades if not any(c.outcome == "error" and c.suite == "provision" for c in b.cases)]
            if ok:
                collector = self._tests(run_dir, inv, ok, kvars, prior)
                by_name = {b.name: b for b in blades}
                for case in collector.cases:
                    by_name[case.blade].cases.append(case)
                extra["pytest_exit"] = collector.exit_status
                extra["nas_incidents"] = self.nas_incidents
                for inc in self.nas_incidents:  # one line per outage of the NAS, however many blades it hit
                    end = inc["end"]
                    start = inc["start"] or 0.0
                    took = f"for {end - start:.0f} s" if end is not None else "until the tests ended"
                    self.log(f"NAS {nas}: did not answer {took} (one infrastructure incident; the blades it "
                             "silenced were not power-cycled)")  # fmt: skip
                if collector.exit_status not in (0, 1):
                    for b in blades:
                        if b.name in ok:
                            b.cases.append(Case(b.name, "run", "fleet_suites", "error",
                                                message=f"pytest ended with status {collector.exit_status}",
                                                details=collector.errors_text()))  # fmt: skip
            for b in blades:
                b.properties.update(self._properties(b, kvars, inv, commit))
        except (Exception, KeyboardInterrupt) as e:  # one boundary: the error's type says whose fault (errors.py)
            blades.append(BladeResult("run", cases=[_run_case(e, "infrastructure")]))
            self.log(f"swaplab run: {errors.message(e)}")
        finally:
            try:
                self._teardown()
            except Exception as e:  # a lab that cannot be brought down is reported, not raised past the report
                self.log(f"swaplab run: lab down failed: {errors.message(e)}")
                blades.append(BladeResult("run", cases=[_run_case(e, "lab_down")]))
        for b in blades:
            for case in b.cases:
                if case.blade == "run":
                    self.journal.finished(case)
        self.timings["total"] = time.monotonic() - t0
        rc = exit_code(blades)
        self._write(run_dir, blades, kvars, rc, extra)
        return rc, run_dir

    def _same_blades(self, prior: journal.JournalState, inv: Inventory | None) -> None:
        """``--resume``: the lab must have the interrupted run's blades, no more and no fewer (its finished cases
        would otherwise be dropped from the outputs, or another lab's stand for this one)."""
        names = select_blades(inv, self.opts.limit) if inv is not None else self.opts.lab_blade_names()
        if sorted(names) != sorted(prior.blades):
            gone, new = sorted(set(prior.blades) - set(names)), sorted(set(names) - set(prior.blades))
            raise RunError([f"--resume {self.opts.resume}: that run's blades are not this lab's ("
                            + "; ".join(x for x in (f"not here: {', '.join(gone)}" if gone else "",
                                                    f"not in that run: {', '.join(new)}" if new else "") if x)
                            + "): resume it against the lab it ran on (its inventory and --limit)"])  # fmt: skip

    # -- stages --------------------------------------------------------------
    def _lab(self) -> str:
        """Build and bring up the virtual lab; the path of the inventory it wrote."""
        from swaplab.lab import images

        paths = LabPaths.default()
        with self._stage("lab_build"):
            images.build(paths, self.log)
        with self._stage("lab_up"):
            self.started_lab = True
            if self.opts.bmc != "qmp" and not os.environ.get(vbmc.PASSWORD_ENV):
                # The virtual BMCs' password: made up for this run, handed to Ansible through the
                # environment only (the generated inventory looks it up), never written to the run.
                os.environ[vbmc.PASSWORD_ENV] = vbmc.new_password()
            names = self.opts.lab_blade_names()
            machines.up(paths, len(names), self.opts.blade_memory, self.log, shape=self.opts.shape, names=names)
        return str(VIRTUAL_INVENTORY)

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Time one of the run's stages (``rundir.STAGES``): the one place they are timed."""
        assert name in STAGES, name
        t = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = time.monotonic() - t

    def _provision(
        self, inv: Inventory, kvars: dict[str, Any], names: list[str], nas: str, run_dir: Path
    ) -> ProvisionResult:
        limit = ",".join([nas, *names]) if self.opts.limit else None
        # With --limit the NAS plays act on these blades' roots, kernels and swapfiles only (swaplab_acted_on).
        extra = {"swaplab_acted_on": names} if self.opts.limit else None
        with self._stage("provision"):
            res = provision(inv, self.opts.kernel, self.log, kvars=kvars, limit=limit,
                            artifacts=run_dir / "ansible", extra=extra)  # fmt: skip
        self.provision_tasks = {k: round(v, 1) for k, v in res.task_seconds.items()}
        self.timings["blade_boot"] = sum(res.mark_seconds.get(m, 0.0) for m in (ansible_events.POWER, BOOT_WAIT))
        return res

    def _provision_cases(self, names: list[str], nas: str, res: ProvisionResult) -> list[BladeResult]:
        out = []
        for name in names:
            b = BladeResult(name)
            # A failed NAS is the cause of whatever its blades then report (the gate refusing them).
            nas_failure = res.failed_hosts.get(nas)
            failure = f"the NAS failed, the blade was not touched: {nas_failure}" if nas_failure else None
            failure = failure or res.failed_hosts.get(name)
            if failure is None and not res.ok and not res.failed_hosts:
                failure = "; ".join(res.failures) or "provisioning failed"
            if failure:
                b.cases.append(Case(name, "provision", "provision", "error", res.seconds, message=failure))
            else:
                b.cases.append(Case(name, "provision", "provision", "passed", res.seconds,
                                    records=[Facts({"changed": res.changed.get(name, 0)})]))  # fmt: skip
            out.append(b)
        return out

    def _tests(self, run_dir: Path, inv: Inventory, names: list[str], kvars: dict[str, Any],
               prior: journal.JournalState | None = None) -> collect.Collector:  # fmt: skip
        import pytest

        control = Path(tempfile.mkdtemp(prefix="swaplab-ssh-"))  # ssh control sockets need short paths
        cfg = run_dir / "ssh_config"
        cfg.write_text(ssh_config(inv.hostvars, [*names, inv.nas]))
        consoles = self._start_consoles(run_dir, inv, names)
        settings = Settings(
            run_dir=str(run_dir), inventory=str(Path(inv.path).resolve()), ssh_config=str(cfg),
            control_dir=str(control), blades={n: {"console": consoles.get(n)} for n in names}, kernel=kvars,
            options=self.opts, prior=_prior_records(prior, names), nas=inv.nas,
            virtual=_virtual(inv.path), resumed=prior is not None,
        )  # fmt: skip
        ctx = run_dir / CONTEXT
        settings.save(ctx)
        targets = [str(ROOT / "tests" / "fleet" / f"test_{s}.py") for s in SUITES if s in self.opts.suites]
        collector = collect.Collector(self.log, self.journal, names)
        args = [*targets, f"--swaplab-context={ctx}", "-p", "no:cacheprovider", "-p", collect.PLUGIN,
                "-o", "timeout=7200", f"--rootdir={ROOT}", "-q", "--no-header", "-rN",
                "-W", "ignore::pytest.PytestAssertRewriteWarning"]  # fmt: skip
        for nodeid in sorted(prior.finished_nodeids()) if prior else []:
            args += ["--deselect", nodeid]  # finished before the interruption: never run twice
        if len(names) > 1:
            # One xdist worker per blade; each blade's tests stay together, in order, in its worker
            # (the suites mark them with xdist_group = the blade), so blades are tested in parallel.
            args += ["-n", str(len(names)), "--dist", "loadgroup"]
        follower = ProgressFollower(run_dir / PROGRESS_LOG, self.log)
        follower.start()
        nas_remote = Remote(inv.nas, cfg, control)
        sampler = NasSampler(nas_remote, run_dir.name, run_dir, self.log) if inv.nas_managed else None
        if sampler:
            sampler.start()

        prober = nas_probe.NasProber(lambda: nas_probe.answers(nas_remote), run_dir / NAS_PROBE)
        prober.start()
        try:
            with self._stage("tests"):
                collector.exit_status = int(pytest.main(args, plugins=[collector]))
        finally:
            prober.stop()
            self.nas_incidents = list(prober.state.incidents)
            if sampler:
                sampler.stop()
            nas_remote.close()
            follower.stop()
            for recorder in self.recorders:
                recorder.stop()
        self.timings["loads"] = collector.load_seconds()
        with contextlib.suppress(OSError):
            control.rmdir()
        return collector

    def _check_consoles(self, inv: Inventory, names: list[str]) -> None:
        """Before anything acts: every blade's SOL console can be had without evicting anyone. A BMC gives one
        SOL session, and a lab's console server may hold it: unless the inventory allows the takeover, a held
        SOL stops the run here (exit 2), naming each such blade and the two fixes. Power settings are resolved
        once for all blades; the BMCs are asked a few at a time."""
        sol = [n for n in names if inv.console(n).get("driver") == "ipmi-sol"]
        if not sol:
            return
        try:
            self.powers = resolve_powers(inv.path, sol)
        except CredentialsError as e:
            raise RunError([str(e)]) from e
        polite = [n for n in sol if not inv.console(n).get("takeover")]

        def held(name: str) -> str | None:
            drv = power_driver(self.powers[name])
            try:
                busy = isinstance(drv, IPMIPowerDriver) and drv.sol_active()
            except IPMIError as e:
                return f"{name}: cannot ask its BMC whether its SOL is free: {e}"
            if not busy:
                return None
            return (
                f"{name}: its BMC's Serial-over-LAN is held by another client (a console server?), and swaplab "
                "does not evict it: read that server's log instead (swaplab_console: {driver: file, path: "
                "<its log>}), or allow the takeover (swaplab_console: {driver: ipmi-sol, takeover: true})"
            )

        with ThreadPoolExecutor(max_workers=min(BMC_CHECKS_AT_ONCE, len(polite) or 1)) as pool:
            problems = [p for p in pool.map(held, polite) if p]
        if problems:
            raise RunError(problems)

    def _start_consoles(self, run_dir: Path, inv: Inventory, names: list[str]) -> dict[str, dict[str, str]]:
        """Each blade's console (``drivers.console_driver`` reads it): a console server's log (`file`), with
        QMP's keyboard for sysrq where the blade has one, or its SOL recorded for this run (`ipmi-sol`)."""
        out: dict[str, dict[str, str]] = {}
        for n in names:
            console = inv.console(n)
            if console.get("driver") == "file":
                power = inv.power(n)
                out[n] = {"driver": "file", "path": str(console["path"])}
                if power.get("driver") == "qmp":
                    out[n]["qmp_socket"] = str(power["socket"])
            elif console.get("driver") == "ipmi-sol":
                recorder = SOLRecorder(self.powers[n], run_dir / n / "console-sol.log",
                                       takeover=bool(console.get("takeover")))  # fmt: skip
                recorder.start()
                self.recorders.append(recorder)
                out[n] = {"driver": "ipmi-sol", "path": str(recorder.out)}
                self.log(f"{n}: console recorded over IPMI Serial-over-LAN into {recorder.out}")
        return out

    def _teardown(self) -> None:
        if not self.started_lab or self.opts.keep:
            if self.started_lab:
                self.log("--keep: the lab stays up (`swaplab lab down` stops it)")
            return

        with self._stage("lab_down"):
            machines.down(LabPaths.default(), self.log)

    # -- outputs ---------------------------------------------------------------
    def _properties(self, b: BladeResult, kvars: dict[str, Any], inv: Inventory, commit: str) -> dict[str, str]:
        props = {
            "kernel.release": str(kvars.get("release", "")),
            "kernel.sha256": str(kvars.get("sha256", "")),
            "kernel.file": Path(str(kvars.get("path", ""))).name,
            "swaplab.version": __version__,
            "swaplab.commit": commit,
            "nas": f"{inv.nas} ({inv.nas_address})",
        }
        for facts in b.of(Facts):
            if "nfs_mount_options" in facts.values:
                props["nfs.mount_options"] = str(facts.values["nfs_mount_options"])
        for r in b.of(RatioRecord):
            props["ratio.nfs_nbd"] = f"{r.ratio:.3f}"
            props["ratio.ci95"] = (f"{r.ci95_low:.3f}-{r.ci95_high:.3f}" if r.ci95_low is not None
                                   and r.ci95_high is not None else "n/a (one pair)")  # fmt: skip
            props["ratio.gate"] = str(r.gate)
            props["ratio.pairs"] = str(r.pairs)
            if r.precision_pct:
                props["ratio.precision"] = (f"+-{r.precision_pct:g}% " + ("reached" if r.precision_reached
                                            else f"NOT reached (stopped: {r.stop})"))  # fmt: skip
        return props

    def _write(self, run_dir: Path, blades: list[BladeResult], kvars: dict[str, Any], rc: int,
               extra: dict[str, Any]) -> None:  # fmt: skip
        result = RunResult(exit_code=rc, kernel=KernelInfo.of(kvars), blades=blades,
                           options=self.opts.to_json() | extra, timings_s=self.timings,
                           provision_tasks_s=self.provision_tasks)  # fmt: skip
        write_outputs(run_dir, result, self.log)
        self.journal.write("done", exit_code=rc)
        self.log(summary_text(result))


def _run_case(exc: BaseException, name: str) -> Case:
    """The run's own case for an exception that ended it: its kind (errors.py) decides ``<error>`` or
    ``<failure>``; swaplab's own bug carries its traceback."""
    kind = errors.kind_of(exc)
    details = traceback.format_exc() if kind is errors.SwaplabBug else ""
    outcome = "failed" if kind.junit == "failure" else "error"
    return Case("run", "run", name, outcome, message=errors.message(exc), details=details)


def _prior_records(prior: journal.JournalState | None, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per blade, what a resumed run's suites need from the cases that finished before: the hog trials
    (for the ratio) and the first-contact facts (the health suite's baseline)."""
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for _, case in prior.finished if prior else []:
        if case.blade in out:
            out[case.blade] += [to_json(r) for r in case.records if isinstance(r, HogTrial | Facts)]
    return out


class ProgressFollower:
    """Echo the suites' progress log (``BladeSession.progress``) to the terminal while they run.

    pytest captures this process's stdout at the file-descriptor level while a test runs: the lines go
    to a duplicate of stdout taken before, which the capture does not touch."""

    def __init__(self, path: Path, log: Log) -> None:
        self.path = path
        try:
            out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
            self._out: Any = out
            self.log: Log = lambda m: print(m, file=out, flush=True)
        except (OSError, ValueError, AttributeError):  # no real stdout (a test's captured one): the given log
            self._out, self.log = None, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self._out is not None:
            self._out.close()

    def _follow(self) -> None:
        offset = 0
        while True:
            stopping = self._stop.wait(1.0)
            try:
                with self.path.open("rb") as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                data = b""
            whole = data[: data.rfind(b"\n") + 1]
            offset += len(whole)
            for line in whole.decode(errors="replace").splitlines():
                self.log(f"  .. {line}")
            if stopping:
                return


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _virtual(inventory: str) -> bool:
    """Whether ``inventory`` names the virtual lab's own inventory (compared, never opened)."""
    return os.path.realpath(inventory) == os.path.realpath(VIRTUAL_INVENTORY)


def resume_options(opts: RunOptions) -> RunOptions:
    """``--resume RUN_DIR``: the interrupted run's own options, with this command's lab, --keep and kernel.

    The journal is untrusted (Jenkins copies run directories between builds): no path is taken from it. A
    lab's run is resumed with ``-i`` and ``--kernel`` given again, compared with the journal's (the inventory
    by its path, the kernel by its sha256, in ``Run.execute``); the virtual lab's inventory is its own (a
    run given it with ``-i`` is resumed against it, with this command's ``--kernel`` or the default).
    RunError if the directory holds no interrupted run, or the lab or the kernel is not named."""
    assert opts.resume is not None
    where = shown(opts.resume)
    try:
        state = journal.read(Path(opts.resume))
    except ValueError as e:
        raise RunError([f"--resume {where}: {shown(e, 400)}"]) from e
    if state.done:
        raise RunError([f"--resume {where}: that run finished; nothing to resume (`swaplab report` rewrites "
                        "its outputs)"])  # fmt: skip
    try:
        prior = RunOptions.from_json(state.options)
    except (TypeError, ValueError) as e:
        raise RunError([f"--resume {where}: its journal's options cannot be read: {shown(e)}"]) from e
    problems = []
    inventory = opts.inventory
    if prior.inventory is not None and _virtual(prior.inventory):  # `-i` of the virtual lab's own: that lab
        if opts.inventory is not None and not _virtual(opts.inventory):
            problems.append(f"--resume {where}: that run was on the virtual lab, not {shown(opts.inventory)}")
        inventory = str(VIRTUAL_INVENTORY)
    elif prior.inventory is not None:  # a lab's run: its lab and kernel named again, never taken from the journal
        if opts.inventory is None:
            problems.append(f"--resume {where}: that run was on a lab of its own: give its inventory again (-i)")
        elif os.path.realpath(opts.inventory) != os.path.realpath(prior.inventory):
            problems.append(f"--resume {where}: that run used the inventory {shown(prior.inventory)}, not "
                            f"{shown(opts.inventory)}: resume it against the lab it ran on")  # fmt: skip
        if opts.kernel is None:
            problems.append(f"--resume {where}: give --kernel the package that run tested (checked by its sha256)")
    elif opts.inventory is not None and not _virtual(opts.inventory):
        problems.append(f"--resume {where}: that run was on the virtual lab, not {shown(opts.inventory)}")
    if problems:
        raise RunError(problems)
    resumed = dataclasses.replace(prior, inventory=inventory, keep=opts.keep, kernel=opts.kernel,
                                  resume=opts.resume, provision=False, reports=opts.reports)  # fmt: skip
    defaults, kept = RunOptions(), ("inventory", "keep", "kernel", "resume", "provision", "reports")
    ignored = [f for f in dataclasses.fields(RunOptions) if f.name not in kept
               and getattr(opts, f.name) != getattr(defaults, f.name)
               and getattr(opts, f.name) != getattr(prior, f.name)]  # fmt: skip
    if ignored:
        each = (f"{f.metadata.get('flag') or f.name} {getattr(opts, f.name)} (the run's: {getattr(prior, f.name)})"
                for f in ignored)  # fmt: skip
        print("swaplab run: --resume keeps the interrupted run's own options; ignored: "
              + shown(", ".join(each), 2000), file=sys.stderr)  # fmt: skip
    return resumed


def main(opts: RunOptions, log: Log) -> int:
    # Jenkins aborts a job with SIGTERM: stop the tests, keep what finished, bring the lab down.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if opts.resume:
            opts = resume_options(opts)
        rc, run_dir = Run(opts, log).execute()
    except errors.BadInput as e:
        print("swaplab run: cannot start:\n  " + "\n  ".join(e.problems), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # only validation runs outside the run's own handling: nothing started
        print(f"swaplab run: interrupted ({e or 'SIGINT'}) while checking the options, the inventory and the "
              "kernel: nothing was started, nothing is left running", file=sys.stderr)  # fmt: skip
        return 2
    print(f"{run_dir}/", flush=True)
    return rc
