"""The ``swaplab`` command line.

Exit codes follow one rule everywhere: 0 all good, 1 the kernel (or the log)
shows a failure, 2 swaplab could not do its job (bad input, infrastructure).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from swaplab import __version__
from swaplab.detect.lines import FORMATS

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _cmd_scan_log(args: argparse.Namespace) -> int:
    from swaplab.detect.scan import ScanResult, scan_path, summarize

    results: list[ScanResult] = []
    errors: list[str] = []
    for path in args.files:
        try:
            results.append(scan_path(path, args.format))
        except OSError as e:
            errors.append(f"swaplab scan-log: cannot read {path}: {e.strerror or e}")
    if errors:
        for msg in errors:
            print(msg, file=sys.stderr)
        print("swaplab scan-log: fix: pass readable log files, or - for standard input", file=sys.stderr)
        return EXIT_ERROR
    report = summarize(results)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for f in report["findings"]:
            print(f"{f['source']}:{f['line']}: {f['severity']} {f['kind']}: {f['text']}")
        s = report["summary"]
        lines = sum(i["lines"] for i in report["inputs"])
        print(
            f"{lines} lines, {len(report['findings'])} findings: {s['fail']} fail, {s['warn']} warn, {s['info']} info"
        )
    return EXIT_FAIL if report["summary"]["fail"] else EXIT_OK


def _cmd_check_kernel(args: argparse.Namespace) -> int:
    from swaplab.kernel.check import KernelUnreadable, check_path, render_text

    try:
        verdict = check_path(args.path, release=args.release)
    except KernelUnreadable as e:
        if args.json:
            json.dump({"path": args.path, "error": str(e)}, sys.stdout, indent=2)
            sys.stdout.write("\n")
        print(f"swaplab check-kernel: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        json.dump(verdict.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(verdict))
    return EXIT_OK if verdict.fit else EXIT_FAIL


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swaplab", description="Swap-over-NFS fleet testing for diskless Linux blades.")
    p.add_argument("--version", action="version", version=f"swaplab {__version__}")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_ERROR
    except BrokenPipeError:
        return rc if "rc" in locals() else EXIT_OK
    return rc
