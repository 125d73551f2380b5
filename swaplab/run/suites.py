"""The suites stage: the blades' consoles, the background services, and the fleet suites under pytest.

The services that watch a run from beside it (the NAS prober and sampler, each blade's SOL recorder, the
progress follower) are context managers entered around pytest: whatever pytest does, they are stopped.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from swaplab.credentials import CredentialsError, resolve_powers
from swaplab.drivers import env_variable, power_driver, power_problems
from swaplab.drivers.ipmidriver import IPMIError, IPMIPowerDriver
from swaplab.drivers.solconsole import SOLRecorder
from swaplab.fleet import nas_probe
from swaplab.fleet.nas_sampler import NasSampler
from swaplab.fleet.remote import Remote, ssh_config
from swaplab.fleet.settings import Settings
from swaplab.inventory import Inventory
from swaplab.options import SUITES
from swaplab.records import Facts, HogTrial, to_json
from swaplab.repo import SHARE
from swaplab.report import collect, journal
from swaplab.rundir import CONTEXT, NAS_PROBE, PROGRESS_LOG

from .checks import RunError, virtual
from .context import RunContext

Log = Callable[[str], None]
BMC_CHECKS_AT_ONCE = 16  # BMCs asked at once before a run (each answers in about a second)
# What a run does after its last hog trial, set aside from --run-budget: the verdict suite, the outputs
# and the virtual lab brought down (about 20 s on the virtual lab, measured 2026-12-06; the rest margin).
AFTER_TRIALS_S = 40


def check_consoles(inv: Inventory, names: list[str]) -> dict[str, dict[str, Any]]:
    """Before anything acts: every blade's SOL console can be had without evicting anyone. A BMC gives one
    SOL session, and a lab's console server may hold it: unless the inventory allows the takeover, a held
    SOL stops the run here (exit 2), naming each such blade and the two fixes. Power settings are resolved
    once for all blades; the BMCs are asked a few at a time. The SOL blades' power settings, resolved."""
    sol = [n for n in names if inv.console(n).get("driver") == "ipmi-sol"]
    if not sol:
        return {}
    try:
        powers = resolve_powers(inv.path, sol)
    except CredentialsError as e:
        raise RunError([str(e)]) from e
    # A credential template that rendered empty (its environment variable unset) is a missing setting.
    if empty := [f"{n}: {p}" for n in sol for p in power_problems(powers.get(n, {}))]:
        unset = sorted(
            {v for n in sol for x in inv.power(n).values() if (v := env_variable(x)) and not os.environ.get(v)}
        )
        raise RunError(empty + ([f"unset or empty in the environment: {', '.join(unset)}"] if unset else []))
    polite = [n for n in sol if not inv.console(n).get("takeover")]

    def held(name: str) -> str | None:
        drv = power_driver(powers[name])
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
    return powers


@contextlib.contextmanager
def consoles(ctx: RunContext, names: list[str], where: Path) -> Iterator[dict[str, dict[str, str]]]:
    """Each blade's console (``drivers.console_driver`` reads it): a console server's log (`file`), with
    QMP's keyboard for sysrq where the blade has one, or its SOL recorded for this run (`ipmi-sol`)."""
    out: dict[str, dict[str, str]] = {}
    with contextlib.ExitStack() as stack:
        for n in names:
            console = ctx.inv.console(n)
            if console.get("driver") == "file":
                power = ctx.inv.power(n)
                out[n] = {"driver": "file", "path": str(console["path"])}
                if power.get("driver") == "qmp":
                    out[n]["qmp_socket"] = str(power["socket"])
            elif console.get("driver") == "ipmi-sol":
                recorder = SOLRecorder(ctx.powers[n], where / n / "console-sol.log",
                                       takeover=bool(console.get("takeover")))  # fmt: skip
                recorder.start()
                stack.callback(recorder.stop)
                out[n] = {"driver": "ipmi-sol", "path": str(recorder.out)}
                ctx.log(f"{n}: console recorded over IPMI Serial-over-LAN into {recorder.out}")
        yield out


@contextlib.contextmanager
def nas_watch(ctx: RunContext, remote: Remote) -> Iterator[nas_probe.NasProber]:
    """The NAS's sampler (a NAS swaplab manages) and its prober (whether it answers), around the suites."""
    sampler = NasSampler(remote, ctx.run_dir.name, ctx.run_dir, ctx.log) if ctx.inv.nas_managed else None
    if sampler:
        sampler.start()
    prober = nas_probe.NasProber(lambda: nas_probe.answers(remote), ctx.run_dir / NAS_PROBE)
    prober.start()
    try:
        yield prober
    finally:
        prober.stop()
        if sampler:
            sampler.stop()


@contextlib.contextmanager
def following(path: Path, log: Log) -> Iterator[None]:
    follower = ProgressFollower(path, log)
    follower.start()
    try:
        yield
    finally:
        follower.stop()


def run_suites(ctx: RunContext, names: list[str], rerun: list[str] | None = None,
               where: Path | None = None) -> collect.Collector:  # fmt: skip
    """The fleet suites for ``names`` under pytest. ``rerun``: only these node ids, in ``where`` (a directory
    of their own, with its own journal: the first run's loads and journal stay as they were), the run's
    finished cases standing (their records are the suites' prior, as for ``--resume``)."""
    import pytest

    inv = ctx.inv
    prior = journal.read(ctx.run_dir) if rerun else ctx.prior
    where = where or ctx.run_dir
    control = Path(tempfile.mkdtemp(prefix="swaplab-ssh-"))  # ssh control sockets need short paths
    cfg = where / "ssh_config"
    cfg.write_text(ssh_config(inv.hostvars, [*names, inv.nas]))
    targets = [str(SHARE / "tests" / "fleet" / f"test_{s}.py") for s in SUITES if s in ctx.opts.suites]
    collector = collect.Collector(ctx.log, journal.Journal(where) if rerun else ctx.journal, names)
    args = [*targets, f"--swaplab-context={where / CONTEXT}", "-p", "no:cacheprovider", "-p", collect.PLUGIN,
            "-o", "timeout=7200", f"--rootdir={SHARE}", "-q", "--no-header", "-rN",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]  # fmt: skip
    for nodeid in sorted(prior.finished_nodeids()) if prior else []:
        if not rerun or nodeid not in rerun:
            args += ["--deselect", nodeid]  # finished before: never run twice (but for a confirming rerun)
    if len(names) > 1:
        # One xdist worker per blade; each blade's tests stay together, in order, in its worker
        # (the suites mark them with xdist_group = the blade), so blades are tested in parallel.
        args += ["-n", str(len(names)), "--dist", "loadgroup"]
    nas_remote = Remote(inv.nas, cfg, control)
    try:
        with contextlib.ExitStack() as stack, following(where / PROGRESS_LOG, ctx.log), \
                nas_watch(ctx, nas_remote) as prober:  # fmt: skip
            # The consoles the suites stage opened (its SOL recorders run on through a confirming rerun: a
            # BMC gives one SOL session, and a new one right after the last may find it still held).
            cons = ctx.consoles if ctx.consoles is not None else stack.enter_context(consoles(ctx, names, where))
            settings = Settings(
                run_dir=str(where), inventory=str(Path(inv.path).resolve()), ssh_config=str(cfg),
                control_dir=str(control), blades={n: {"console": cons.get(n)} for n in names}, kernel=ctx.kernel,
                options=ctx.opts, prior=prior_records(prior, names), nas=inv.nas,
                virtual=virtual(inv.path), resumed=prior is not None, inventory_data=inv.raw,
                deadline=ctx.deadline - AFTER_TRIALS_S if ctx.deadline is not None else None,
            )  # fmt: skip
            settings.save(where / CONTEXT)
            collector.exit_status = int(pytest.main(args, plugins=[collector]))
        ctx.extra.setdefault("nas_incidents", []).extend(prober.state.incidents)
    finally:
        nas_remote.close()
        with contextlib.suppress(OSError):
            control.rmdir()
    return collector


def prior_records(prior: journal.JournalState | None, names: list[str]) -> dict[str, list[dict[str, Any]]]:
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
