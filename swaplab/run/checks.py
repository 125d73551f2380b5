"""Before a run acts: every option, the inventory (or the virtual lab it will bring up) and the kernel under
test are checked, and every problem is reported at once (exit 2) before a run directory exists or a machine
starts. ``--resume`` is checked here too: its journal is untrusted, and no path is taken from it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from swaplab import errors
from swaplab.fleet import trials
from swaplab.inventory import Inventory, InventoryError, load_and_validate
from swaplab.inventory.provider import PhysicalRack, RackProvider
from swaplab.kernel import build, under_test
from swaplab.lab import bmc as vbmc
from swaplab.lab import machines
from swaplab.lab.faults import FaultSpec
from swaplab.lab.provider import VirtualLab
from swaplab.labshape import LabShape
from swaplab.options import RANGES, SUITES, RunOptions, range_problem
from swaplab.provision import lab_problems
from swaplab.repo import VIRTUAL_INVENTORY
from swaplab.report import journal
from swaplab.textsafe import shown

Log = Callable[[str], None]


class RunError(errors.BadInput):
    """The run cannot start (exit 2, nothing started); ``problems`` lists every reason found."""


def planned_loads(opts: RunOptions) -> list[str]:
    """The loads a run with these options may run on each blade (their ids: a fault names one)."""
    out = []
    if "hog" in opts.suites:
        out += [trials.WARM_UP_LOAD] if opts.warm_up else []
        out += [f"hog-t{t}-{s}" for t in range(1, opts.trial_plan().maximum + 1) for s in ("nfs", "nbd")]
    if "fio" in opts.suites:
        out += ["fio-nfs", "fio-nbd", "fio-hog-nfs", "fio-hog-nbd"]
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
    kernel: under_test.KernelUnderTest | None = None
    source: build.TreeInput | None = None  # --kernel SOURCE_TREE: built once everything else is known good


def validate(opts: RunOptions, log: Log) -> Checked:
    """The run's three checks, each of its own stage and all reported together: the options, the inventory
    (or the virtual lab it will bring up), the kernel under test."""
    inv, inv_problems = _inventory_checked(opts)
    if build.is_source_tree(opts.kernel):
        assert opts.kernel is not None
        tree = Path(opts.kernel)
        source = build.TreeInput(tree, None, Path(opts.patches) if opts.patches else None,
                                 Path(opts.kconfig) if opts.kconfig else None)  # fmt: skip
        problems = [f"--kernel {p}" for p in source.problems()]
        return Checked(_option_problems(opts) + inv_problems + problems, inv, None, source)
    kernel, kernel_problems = _kernel_checked(opts, log)
    if opts.patches or opts.kconfig:
        kernel_problems.append("--patches and --kconfig are for --kernel SOURCE_TREE (a kernel's source, built "
                               "first): a package or an installed tree is tested as it is")  # fmt: skip
    return Checked(_option_problems(opts) + inv_problems + kernel_problems, inv, kernel)


def rack_provider(opts: RunOptions) -> RackProvider:
    """What gives this run its blades: the lab's rack (``-i``), else the virtual lab the options shape."""
    if opts.inventory is not None:
        return PhysicalRack(Path(opts.inventory))
    return VirtualLab(opts.lab_blade_names(), opts.blade_memory, opts.shape)


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
    problems += rack_provider(opts).problems()
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
        if opts.inventory is not None and not virtual(opts.inventory):
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
    if opts.inventory is None and opts.limit is not None:
        problems += limit_problems(opts.limit, opts.lab_blade_names(), "the virtual lab")
    return inv, problems


def _kernel_checked(opts: RunOptions, log: Log) -> tuple[under_test.KernelUnderTest | None, list[str]]:
    if problem := under_test.missing(opts.kernel):
        return None, [problem]
    try:
        return under_test.resolve(opts.kernel, log), []
    except under_test.KernelError as e:
        return None, [str(e)]


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


def virtual(inventory: str) -> bool:
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
    if prior.inventory is not None and virtual(prior.inventory):  # `-i` of the virtual lab's own: that lab
        if opts.inventory is not None and not virtual(opts.inventory):
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
    elif opts.inventory is not None and not virtual(opts.inventory):
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
