"""``python -m swaplab.sim up RACK_DIR --blades N [--names ...] | down RACK_DIR | ask RACK_DIR REQUEST``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from swaplab.sim import rack
from swaplab.sim.provider import SimRack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m swaplab.sim", description="a simulated rack (swaplab.sim)")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="bring a simulated rack up (every blade powered off); prints its inventory")
    u.add_argument("rack_dir", type=Path)
    u.add_argument("--blades", type=int, default=10)
    u.add_argument("--names", help="comma-separated blade names (default r1-b01...)")
    u.add_argument("--release", required=True, help="the kernel release the blades report (uname -r)")
    u.add_argument("--boot", type=float, default=3.0, help="seconds from power-on to sshd (default 3)")
    u.add_argument("--trial", type=float, default=20.0, help="seconds a hog trial takes (default 20)")
    d = sub.add_parser("down", help="stop a simulated rack and remove its directory")
    d.add_argument("rack_dir", type=Path)
    a = sub.add_parser("ask", help="one request to the rack daemon (power, hang, freeze-nas, say, chatter)")
    a.add_argument("rack_dir", type=Path)
    a.add_argument("request", nargs="+")
    args = p.parse_args(argv)
    try:
        if args.cmd == "up":
            if args.names:
                names = args.names.split(",", rack.MAX_BLADES)[: rack.MAX_BLADES + 1]
            elif not 1 <= args.blades <= rack.MAX_BLADES:  # before any name is built
                raise rack.SimError(f"--blades {args.blades}: a simulated rack has 1 to {rack.MAX_BLADES}")
            else:
                names = rack.rack_names(args.blades)
            sim = SimRack(args.rack_dir.resolve(), names, args.release, args.boot, args.trial)
            if found := sim.problems():
                raise rack.SimError("; ".join(found))
            print(sim.up(lambda line: print(line, file=sys.stderr)))
        elif args.cmd == "down":
            left = SimRack(args.rack_dir.resolve(), [], "").down(lambda line: None)
            for line in left:
                print(f"swaplab.sim: {line}", file=sys.stderr)
            return 1 if left else 0
        else:
            answer = rack.ask(args.rack_dir.resolve(), " ".join(args.request))
            print(answer)
            return 0 if answer.startswith("ok") else 1
    except rack.SimError as e:
        print(f"swaplab.sim: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
