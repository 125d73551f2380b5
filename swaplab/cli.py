"""The ``swaplab`` command line.

Exit codes follow one rule everywhere: 0 all good, 1 the kernel (or the log)
shows a failure, 2 swaplab could not do its job (bad input, infrastructure).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from swaplab import __version__
from swaplab.detect.lines import FORMATS
from swaplab.options import RunOptions, add_arguments, from_arguments
from swaplab.rundir import JOURNAL, RESULTS
from swaplab.textsafe import shown, visible

KERNEL_HELP = next(f.metadata["help"] for f in dataclasses.fields(RunOptions) if f.name == "kernel")

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _cmd_scan_log(args: argparse.Namespace) -> int:
    from swaplab.detect.detector import MAX_KEPT_FINDINGS
    from swaplab.detect.scan import ScanResult, scan_path, summarize

    results: list[ScanResult] = []
    errors: list[str] = []
    for path in args.files:
        try:
            results.append(scan_path(path, args.format))
        except OSError as e:
            errors.append(f"swaplab scan-log: cannot read {path}: {e.strerror or e}")
    report = summarize(results)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for f in report["findings"]:  # a log's text, shown: no control character reaches the terminal
            print(visible(f"{f['source']}:{f['line']}: {f['severity']} {f['kind']}: {f['text']}", one_line=True))
        s = report["summary"]
        lines = sum(i["lines"] for i in report["inputs"])
        total = s["fail"] + s["warn"] + s["info"]
        print(
            f"{lines} lines, {total} findings: {s['fail']} fail, {s['warn']} warn, {s['info']} info"
            + (f" ({s['not_listed']} past the first {MAX_KEPT_FINDINGS} not listed)" if s["not_listed"] else "")
        )
    if errors:  # the other inputs' findings are printed above; the run is still incomplete
        for msg in errors:
            print(msg, file=sys.stderr)
        print("swaplab scan-log: fix: pass readable log files, or - for standard input", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_FAIL if report["summary"]["fail"] else EXIT_OK


def _cmd_check_kernel(args: argparse.Namespace) -> int:
    from swaplab.kernel.check import KernelUnreadable, check_path, render_text

    try:
        verdict = check_path(args.path, release=args.release)
    except KernelUnreadable as e:
        if args.json:
            json.dump({"path": args.path, "error": str(e)}, sys.stdout, indent=2)
            sys.stdout.write("\n")
        print(f"swaplab check-kernel: {visible(str(e))}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        json.dump(verdict.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(verdict))  # every name from the package shown escaped (render_text)
    return EXIT_OK if verdict.fit else EXIT_FAIL


def _log(msg: str) -> None:
    print(msg, flush=True)


def _cmd_lab(args: argparse.Namespace) -> int:
    from swaplab.lab import images, machines
    from swaplab.lab.paths import LabPaths

    paths = LabPaths.default()
    try:
        if args.lab_command == "build":
            images.build(paths, _log, force=args.force)
        elif args.lab_command == "up":
            if args.names and (problem := machines.names_problem(args.names, args.blades)):
                raise machines.LabError(problem)
            opts = from_arguments(args)
            names = opts.lab_blade_names()
            machines.up(paths, len(names), args.blade_memory, _log, shape=opts.shape, names=names)
        elif args.lab_command == "down":
            machines.down(paths, _log)
        elif args.lab_command == "power":
            print(f"{args.machine} {machines.power(paths, args.machine, args.action)}")
        elif args.lab_command == "status":
            rows = machines.status(paths)
            if not rows:
                print("no lab is up")
            for name, power, addr in rows:
                print(f"{name:10} {power:8} {addr}")
    except (images.BuildError, machines.LabError) as e:
        print(f"swaplab lab {args.lab_command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _cmd_provision(args: argparse.Namespace) -> int:
    from swaplab.provision import ProvisionError, provision
    from swaplab.repo import VIRTUAL_INVENTORY

    inventory = args.inventory or str(VIRTUAL_INVENTORY)
    try:
        res = provision(inventory, args.kernel, _log, playbook=args.playbook)
    except ProvisionError as e:
        print(f"swaplab provision: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as e:
        print(f"swaplab provision: interrupted ({e}); the lab is as far as the playbook got", file=sys.stderr)
        return EXIT_ERROR
    if not res.ok:
        print("swaplab provision: failed:\n  " + "\n  ".join(res.failures), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from swaplab.report import journal
    from swaplab.report.outputs import write_outputs
    from swaplab.report.results import RunResult

    run_dir = Path(args.run_dir)
    # A finished run's results.json; else (the controller was stopped) its journal.
    source = RESULTS
    try:
        # results.json is written once, after every case: when it is there it is the whole run.
        if (run_dir / JOURNAL).is_file() and not (run_dir / RESULTS).is_file():
            source = JOURNAL
            result = journal.rebuild(run_dir)
        else:
            result = RunResult.load(run_dir / RESULTS)
    except ValueError as e:
        print(f"swaplab report: {shown(e, 400)}", file=sys.stderr)
        return EXIT_ERROR
    failed = write_outputs(run_dir, result, _log, results_too=source == JOURNAL)
    if failed:
        print(f"swaplab report: {shown(run_dir)}/: could not write {', '.join(failed)} (above); the run's verdict "
              f"is {result.verdict}", file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    print(f"{shown(run_dir)}/: junit.xml and report.html rewritten from {source} ({result.verdict})")
    return EXIT_OK


def _cmd_merge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from swaplab import errors
    from swaplab.history import nightly
    from swaplab.report.merge import MergeError, merge
    from swaplab.report.outputs import write_outputs
    from swaplab.report.results import summary_text

    out = Path(args.out)
    history = nightly.from_args(args)
    try:
        if history and (problems := history.problems()):
            raise MergeError(problems)
        result = merge(args.runs, out, args.expect, args.prefix_racks, _log)
    except MergeError as e:
        shown_problems = [shown(p, 400) for p in e.problems]
        print("swaplab merge: cannot merge (nothing was written):\n  " + "\n  ".join(shown_problems), file=sys.stderr)
        return EXIT_ERROR
    failed = write_outputs(out, result, _log)
    if history and not failed:
        try:  # the merged sign-off is tonight's night of the fleet; its outputs are told what changed
            nightly.apply(result, nightly.remember(history, out, _log))
            failed = write_outputs(out, result, _log)
        except errors.SwaplabError as e:
            print("swaplab merge: the history: " + "\n  ".join(e.problems), file=sys.stderr)
            return EXIT_FAIL if result.exit_code == EXIT_FAIL else EXIT_ERROR
    print(summary_text(result))
    if failed:
        print(f"swaplab merge: could not write {', '.join(failed)} in {shown(out)} (above)", file=sys.stderr)
        return EXIT_ERROR
    print(f"{shown(out)}/")
    return result.exit_code


def _cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from swaplab.report import compare
    from swaplab.report.results import RunResult

    runs = []
    problems = []
    from swaplab import atomic

    if args.html and (problem := atomic.output_problem(Path(args.html), False, [Path(args.baseline),
                                                                               Path(args.candidate)])):  # fmt: skip
        problems.append(f"--html {problem}")
    if not 0 < args.threshold < 1000:
        problems.append(f"--threshold {args.threshold}: choose a percentage above 0 (10 is the default)")
    for d in (args.baseline, args.candidate):
        try:
            runs.append(RunResult.load(Path(d) / RESULTS))
        except (ValueError, OSError) as e:
            problems.append(shown(e, 400))
    if problems:
        print("swaplab compare: cannot compare:\n  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_ERROR
    cmp = compare.compare(runs[0], runs[1], args.threshold)
    if Path(args.baseline).resolve() == Path(args.candidate).resolve():
        cmp.warnings.insert(0, f"{shown(args.baseline)} is compared with itself: one run, not two")
    if args.json:
        print(json.dumps(cmp.to_json(), indent=1))
    else:
        print(compare.render_text(cmp))
    if args.html:
        from swaplab.report import html

        try:
            atomic.write_text(Path(args.html), html.render_compare(cmp, runs[0], runs[1]))
        except OSError as e:
            print(f"swaplab compare: --html {shown(args.html)} could not be written ({e.strerror or e})",
                  file=sys.stderr)  # fmt: skip
            return EXIT_ERROR
    if not cmp.comparable:
        print("swaplab compare: the runs are not comparable (above): nothing was judged", file=sys.stderr)
    elif cmp.unmeasured and not cmp.gate_failures:
        print("swaplab compare: nothing was measured to compare (above)", file=sys.stderr)
    return cmp.exit_code


def _cmd_run(args: argparse.Namespace) -> int:
    from swaplab.history import nightly
    from swaplab.run import main

    return main(from_arguments(args), _log, nightly.from_args(args))


class _Version(argparse.Action):
    """``--version``: the version and the commit (the checkout's HEAD, or the one the wheel was built from),
    asked for only when the option is given."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from swaplab import repo

        where = f"installed in {repo.PACKAGE.parent}" if repo.INSTALLED else f"checkout {repo.SHARE}"
        print(f"swaplab {__version__} (commit {repo.commit()}; {where})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swaplab", description="Swap-over-NFS fleet testing for diskless Linux blades.")
    p.add_argument("--version", action=_Version, help="the version and the commit it was built from, and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("scan-log", help="find kernel failure signatures in logs")
    s.add_argument("files", nargs="+", metavar="FILE", help="log files; - reads standard input")
    s.add_argument("--json", action="store_true", help="print findings as JSON")
    s.add_argument(
        "--format", choices=FORMATS, default="auto", help="input format (default: sniffed from the first lines)"
    )
    s.set_defaults(func=_cmd_scan_log)

    k = sub.add_parser("check-kernel", help="judge whether a kernel can run the swap-over-NFS suite")
    k.add_argument(
        "path", help="a kernel .deb, a config file, an IKCONFIG bzImage, or a tree with boot/ and lib/modules/"
    )
    k.add_argument("--release", help="the release to check in a tree that holds several")
    k.add_argument("--json", action="store_true", help="print the verdict as JSON")
    k.set_defaults(func=_cmd_check_kernel)

    lab = sub.add_parser("lab", help="the virtual lab: build its images, bring it up or down")
    lsub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    b = lsub.add_parser("build", help="build (or reuse) the NAS disk and the blade image")
    b.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    u = lsub.add_parser("up", help="start the switch, the NAS and N powered-off blades; write the inventory")
    add_arguments(u, only=("blades", "names", "blade_memory", "bmc", "dhcp", "nas"))
    lsub.add_parser("down", help="stop everything `lab up` started, by pidfile")
    lsub.add_parser("status", help="power state and address of each machine")
    pw = lsub.add_parser(
        "power", help="power a blade on, off, cycle it, or show its state; pause/resume a blade or the NAS (a stall)"
    )
    pw.add_argument("machine", help="a blade's name, or nas (pause, resume, status only)")
    pw.add_argument("action", choices=["on", "off", "cycle", "pause", "resume", "status"])
    lab.set_defaults(func=_cmd_lab)

    pr = sub.add_parser("provision", help="provision NAS, kernel, blades and swap with the playbooks")
    pr.add_argument("-i", "--inventory", help="inventory (default: the virtual lab's)")
    pr.add_argument("--kernel", help=KERNEL_HELP)
    pr.add_argument("--playbook", default="site.yml", help="playbook under playbooks/ (default site.yml)")
    pr.set_defaults(func=_cmd_provision)

    from swaplab.history import nightly

    r = sub.add_parser("run", help="the main job: (virtual lab,) provision, suites, JUnit/JSON/HTML report")
    add_arguments(r)
    nightly.add_arguments(r)
    r.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="rewrite a run directory's junit.xml and report.html from its results.json")
    rep.add_argument("run_dir", metavar="RUN_DIR")
    rep.set_defaults(func=_cmd_report)

    mg = sub.add_parser("merge", help="merge the run directories of a fleet's racks into one sign-off")
    mg.add_argument(
        "runs",
        metavar="[NAME=]RUN_DIR",
        nargs="+",
        help="a rack's run directory, named NAME (default: its inventory's directory name)",
    )
    mg.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="the merged run directory (new or empty)")
    mg.add_argument(
        "--expect",
        type=lambda s: [x for x in s.split(",") if x],
        default=[],
        metavar="NAME,...",
        help="the racks that must be there: one missing is an <error> and exit 2",
    )
    mg.add_argument(
        "--prefix-racks", action="store_true", help="name every blade RACK-BLADE (for racks whose blades share names)"
    )
    nightly.add_arguments(mg, reruns=False)
    mg.set_defaults(func=_cmd_merge)

    cmp = sub.add_parser(
        "compare", help="compare two runs (baseline, candidate): exit 1 if the candidate is significantly worse"
    )
    cmp.add_argument("baseline", metavar="BASELINE", help="the baseline's run directory (the last good kernel)")
    cmp.add_argument("candidate", metavar="CANDIDATE", help="the candidate's run directory")
    cmp.add_argument("--threshold", type=float, default=10.0, metavar="PCT",
                     help="how much worse the NFS hog time or ratio may get, significantly (default 10)")  # fmt: skip
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmp.add_argument("--html", metavar="FILE", help="also write the comparison as a self-contained page")
    cmp.set_defaults(func=_cmd_compare)

    from swaplab.bisect.cli import add_parser as add_bisect
    from swaplab.history.commands import add_parser as add_history

    for add in (add_history, add_bisect):
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_ERROR
    except BrokenPipeError:  # the reader went away (`| head`): what it read was the output
        return EXIT_OK
    except Exception:  # a crash is swaplab's failure, never the kernel's: exit 2, with the traceback
        traceback.print_exc()
        print(f"swaplab {args.command}: internal error (above): please report it", file=sys.stderr)
        return EXIT_ERROR
    return rc
