"""The ``swaplab`` command line.

Exit codes follow one rule everywhere: 0 all good, 1 the kernel (or the log)
shows a failure, 2 swaplab could not do its job (bad input, infrastructure).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence

from swaplab import __version__
from swaplab.detect.lines import FORMATS

KERNEL_HELP = (
    "kernel under test: a .deb, or a directory with boot/vmlinuz-REL and lib/modules/REL "
    "(default: Debian 12's stock kernel)"
)

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
        print(f"swaplab check-kernel: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        json.dump(verdict.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(verdict))
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
            machines.up(paths, args.blades, args.blade_memory, _log, bmc=args.bmc, dhcp=args.dhcp)
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
    from swaplab.lab.paths import ROOT
    from swaplab.provision import ProvisionError, provision

    inventory = args.inventory or str(ROOT / "inventories" / "virtual" / "hosts.yml")
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


def _cmd_run(args: argparse.Namespace) -> int:
    from swaplab.run import RunOptions, main

    opts = RunOptions(
        inventory=args.inventory, kernel=args.kernel, blades=args.blades, blade_memory=args.blade_memory,
        trials=args.trials, working_set=args.working_set, ratio_gate=args.ratio_gate, fio_size_mib=args.fio_size,
        fio_runtime_s=args.fio_runtime, keep=args.keep, limit=args.limit, provision=not args.no_provision, bmc=args.bmc,
        suites=[s.strip() for s in args.suite.split(",") if s.strip()],
    )  # fmt: skip
    return main(opts, _log)


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

    lab = sub.add_parser("lab", help="the virtual lab: build its images, bring it up or down")
    lsub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    b = lsub.add_parser("build", help="build (or reuse) the NAS disk and the blade image")
    b.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    u = lsub.add_parser("up", help="start the switch, the NAS and N powered-off blades; write the inventory")
    u.add_argument("--blades", type=int, default=1, help="number of blades (default 1)")
    u.add_argument("--blade-memory", type=int, default=192, metavar="MiB", help="memory per blade (default 192)")
    u.add_argument("--bmc", choices=["qmp", "ipmi", "redfish"], default="qmp",
                   help="what powers the blades: QMP directly, an ipmi_sim BMC each (ipmitool), or one "
                        "sushy-emulator (Redfish over https with a lab CA), as on a rack; the BMCs' password "
                        "comes from SWAPLAB_BMC_PASSWORD (default qmp)")  # fmt: skip
    u.add_argument("--dhcp", choices=["nas", "lab"], default="nas",
                   help="who hands out addresses: the NAS's dnsmasq (default), or a DHCP server of the lab's "
                        "own (a tap on the lab switch, in the lab's network namespace) with swaplab's as "
                        "proxy-DHCP")  # fmt: skip
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

    r = sub.add_parser("run", help="the main job: (virtual lab,) provision, suites, JUnit/JSON/HTML report")
    r.add_argument("-i", "--inventory", help="a lab's inventory (default: bring up the virtual lab)")
    r.add_argument("--kernel", help=KERNEL_HELP)
    r.add_argument("--trials", type=int, default=3, help="interleaved NFS/NBD hog trials (default 3)")
    r.add_argument("--working-set", default="2x", help="hog working set: a multiple of RAM (2x) or MiB (400M)")
    r.add_argument("--ratio-gate", type=float, default=2.5, help="fail if NFS time / NBD time exceeds this (2.5)")
    r.add_argument("--fio-size", type=int, default=32, metavar="MiB", help="fio file/region size (default 32)")
    r.add_argument("--fio-runtime", type=int, default=5, metavar="S", help="seconds per fio job (default 5)")
    r.add_argument(
        "--suite", default="config,fio,hog,verdict", help="suites to run (default all: config,fio,hog,verdict)"
    )
    r.add_argument("--limit", help="only blades matching these comma-separated patterns (fnmatch)")
    r.add_argument("--blades", type=int, default=1, help="virtual lab: number of blades (default 1)")
    r.add_argument("--blade-memory", type=int, default=192, metavar="MiB", help="virtual lab: MiB per blade (192)")
    r.add_argument("--keep", action="store_true", help="virtual lab: leave it up at the end")
    r.add_argument(
        "--bmc",
        choices=["qmp", "ipmi", "redfish"],
        default="qmp",
        help="virtual lab: power the blades through QMP, an ipmi_sim BMC each, or sushy-emulator (default qmp)",
    )
    r.add_argument("--no-provision", action="store_true", help="with -i: test the lab as it is, without the playbooks")
    r.set_defaults(func=_cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_ERROR
    except BrokenPipeError:
        return rc if "rc" in locals() else EXIT_OK
    except Exception:  # a crash is swaplab's failure, never the kernel's: exit 2, with the traceback
        traceback.print_exc()
        print(f"swaplab {args.command}: internal error (above): please report it", file=sys.stderr)
        return EXIT_ERROR
    return rc
