"""``swaplab bisect``: its arguments, checked all at once before anything is built or booted, the
bisection driven, and its report (``bisect.json``, ``report.md``) in a directory of its own.

The ends are given (``--good``/``--bad``) or read from the history (``--from-history``: the latest
regression's last good and first bad nights, whose kernels carry their commits). A bisection killed
mid-step goes on with ``--resume DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

from swaplab import errors
from swaplab.inventory import load_and_validate
from swaplab.repo import HOME, VIRTUAL_INVENTORY
from swaplab.textsafe import visible

from .engine import STATE_FILE, BisectError, Bisection, Outcome, State, hold, start, step_bound
from .gittree import GitTree
from .report import write_report
from .steps import RunJudge, Target

CACHE = HOME / ".cache" / "kernel-builds"


def add_parser(sub: Any) -> None:
    b = sub.add_parser("bisect", help="find the commit that broke it: build, provision and judge each step")
    b.add_argument("--tree", help="the kernel's git tree (only read: steps build in a scratch clone)")
    b.add_argument("--good", help="a commit without the regression")
    b.add_argument("--bad", help="a commit with it")
    b.add_argument("--from-history", metavar="PATH|URL", help="take the ends (and the case or gate) from the "
                   "latest regression in this history (its nights' --kernel-commit)")  # fmt: skip
    b.add_argument("--lab", help="with --from-history: the lab (default: the only one)")
    b.add_argument("--gate", type=float, help="bad: the NFS/NBD ratio's whole 95%% interval over this")
    b.add_argument("--case", help="bad: this case (suite::test, e.g. verdict::test_kernel_health) fails")
    b.add_argument("-i", "--inventory", help="the blades' inventory (default: the virtual lab's)")
    b.add_argument("--patches", help="a patch series applied on every step (quilt series, directory, mbox)")
    b.add_argument("--kconfig", help="the config to build with (default: x86_64_defconfig + what blades need)")
    b.add_argument("--max-pairs", type=int, default=8, help="pairs a step may take before it is skipped")
    b.add_argument("--pairs-per-run", type=int, default=3, metavar="N", help="hog pairs each run of a step takes "
                   "(a step runs again, N more, while it is not sure; default 3)")  # fmt: skip
    b.add_argument("--split", type=int, default=1, metavar="K", help="test K commits at once, each on its own "
                   "group of blades (default 1: every blade tests the same commit, their pairs pooled)")  # fmt: skip
    b.add_argument("--resume", metavar="DIR", help="go on with the bisection saved in DIR")
    b.add_argument("run_args", nargs="*", metavar="-- RUN_ARG", help="passed to each step's swaplab run")
    b.set_defaults(func=main)


def _problems(args: argparse.Namespace) -> list[str]:
    out = []
    if args.gate is None and args.case is None and not args.from_history and not args.resume:
        out.append("say what regressed: --gate R (the NFS/NBD ratio) or --case SUITE::TEST")
    if args.gate is not None and args.case is not None:
        out.append("--gate and --case: give one")
    if args.gate is not None and not (math.isfinite(args.gate) and 1.0 <= args.gate <= 100):
        out.append(f"--gate {args.gate}: choose 1 to 100")
    if args.case is not None and (args.case.count("::") != 1 or not all(args.case.split("::"))):
        out.append(f"--case {visible(args.case)[:80]}: give it as suite::test (verdict::test_kernel_health)")
    if not args.resume and not args.tree:
        out.append("--tree: give the kernel's git tree")
    elif args.tree and ".." in Path(args.tree).parts:
        out.append(f"--tree {visible(args.tree)[:200]}: give the tree's path without '..'")
    if not args.resume and not args.from_history and not (args.good and args.bad):
        out.append("--good and --bad: give both ends (or --from-history)")
    if not 2 <= args.max_pairs <= 50:
        out.append(f"--max-pairs {args.max_pairs}: choose 2 to 50")
    if not 2 <= args.pairs_per_run <= args.max_pairs:
        out.append(f"--pairs-per-run {args.pairs_per_run}: choose 2 to --max-pairs ({args.max_pairs})")
    if not 1 <= args.split <= 64:
        out.append(f"--split {args.split}: choose 1 to 64")
    elif args.split > 1 and "--limit" in args.run_args:
        out.append("--split with a --limit for the runs: give one (--split makes each group's --limit)")
    if args.inventory and not Path(args.inventory).is_file():
        out.append(f"-i {visible(args.inventory)[:200]}: no such inventory")
    elif not args.inventory and not VIRTUAL_INVENTORY.is_file():
        out.append("no -i, and the virtual lab is not up: `swaplab lab up` first, or give a rack's inventory")
    return out


def ends_from_history(args: argparse.Namespace) -> tuple[str, str, Target]:
    """The latest regression's last good and first bad commits, and what regressed: the case given, or
    the ratio (with --gate, or a gate halfway, geometrically, between the levels before and after)."""
    from swaplab.history.commands import known_in, lab_in, verdict_for
    from swaplab.history.store import History, target

    with History(target(args.from_history)) as h:
        v = verdict_for(h, lab_in(h, args.lab), known_in(None))
    for r in v.regressions:  # the one asked for (--case, --gate: the ratio), else the first
        good, bad = r.last_good, r.first_bad
        if not (good and bad and good.commit and bad.commit):
            continue
        case = getattr(r, "case", None)
        if case is not None and args.gate is None and args.case in (None, case):
            return good.commit, bad.commit, Target(case=case)
        before, after = getattr(r, "before", None), getattr(r, "after", None)
        if str(getattr(r, "metric", "")).startswith("ratio") and before and after and args.case is None:
            return good.commit, bad.commit, Target(gate=args.gate or round(math.sqrt(before * after), 3))
    raise BisectError("the history's latest verdict names no regression with both kernels' commits: ingest "
                      "the nights with --kernel-commit, or give --good and --bad")  # fmt: skip


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def groups(inventory: str, k: int) -> list[list[str]]:
    """``--split K``: the inventory's blades dealt into K groups, as ``--limit`` arguments for each group's
    runs (K = 1: no --limit, every blade). More groups than blades is bad input."""
    if k == 1:
        return [[]]
    blades = sorted(load_and_validate(inventory).blades)
    if len(blades) < k:
        raise BisectError(f"--split {k}: the inventory has {len(blades)} blade(s); give at most that many groups")
    return [["--limit", ",".join(blades[i::k])] for i in range(k)]


def main(args: argparse.Namespace) -> int:
    if problems := _problems(args):
        print("swaplab bisect: cannot start:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    inv = str(Path(args.inventory).resolve()) if args.inventory else str(VIRTUAL_INVENTORY)
    directory: Path | None = None
    try:
        limits = groups(inv, args.split)  # before the bisection's directory: more groups than blades is bad input
        if args.resume:
            directory = Path(args.resume)
            lock = hold(directory)  # before the state is read: a second writer never reads it
            state = State.load(directory)
            tree = GitTree(state.tree)
            target = Target.parse(state.what)
        else:
            tree = GitTree(args.tree)
            good, bad, target = (ends_from_history(args) if args.from_history
                                 else (args.good, args.bad, Target(args.gate, args.case)))  # fmt: skip
            state = start(tree, good, bad, target.what())
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            directory = HOME / "reports" / f"bisect-{stamp}"
            directory.mkdir(parents=True)
            lock = hold(directory)
            state.save(directory)
        n = len(tree.candidates(state.bad, [state.good]))
        print(f"bisect: {n} candidate commit(s) between {state.good[:12]} and {state.bad[:12]}; at most "
              f"{step_bound(n)} build-and-test steps, skips aside; judged: {target.words()}")  # fmt: skip
        print(f"bisect: state in {directory / STATE_FILE}")
        judges = [RunJudge(tree, inv, target, directory, CACHE, Path(args.patches) if args.patches else None,
                           Path(args.kconfig) if args.kconfig else None, pairs_per_run=args.pairs_per_run,
                           max_pairs=args.max_pairs, run_args=[*args.run_args, *limit])
                  for limit in limits]  # fmt: skip
        signal.signal(signal.SIGTERM, _interrupt)  # Jenkins's abort: the step's run stopped, the state kept
        outcome: Outcome = Bisection(tree, state, judges[0], directory).run(judges=judges)
        os.close(lock)
    except errors.SwaplabError as e:
        print(f"swaplab bisect: {errors.message(e)}", file=sys.stderr)
        return errors.exit_code(e)
    except KeyboardInterrupt:
        where = f": go on with `swaplab bisect --resume {directory}`" if directory else ""
        print(f"swaplab bisect: interrupted; the steps that ended are kept{where}", file=sys.stderr)
        return 2
    write_report(directory, state, outcome, tree)
    print(f"bisect: {outcome.words}")
    print(f"{directory}/")
    return 1 if outcome.confirmed else 2
