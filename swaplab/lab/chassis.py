"""``python -I -m swaplab.lab.chassis QMP_SOCKET STATE_DIR get|set PARAM [VALUE]``: a virtual blade's chassis.

OpenIPMI's ipmi_sim runs this for every chassis request of the blade's BMC
(its ``chassis_control`` program), synchronously: ``get power`` prints
``power:1|0``, ``get boot`` prints ``boot:pxe|default``; ``set power 1|0``,
``set reset 1``, ``set shutdown 1`` and ``set boot pxe|default`` act. A
non-zero exit is an IPMI error. It drives the blade's QMP socket, so the lab's
QEMU lifecycle (``-S``, QMP) is the same whichever BMC sits in front.

A one-time boot override (``chassis bootdev pxe``) is kept in STATE_DIR and
consumed by the next power-on or reset, as a BMC does; every request is
appended to ``STATE_DIR/chassis.log`` so a test can see what the BMC was told
and in which order. Virtual blades have only a NIC, so PXE is their first boot
device either way: the override's effect is recorded, not observable on the console.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from swaplab.drivers.protocols import PowerState
from swaplab.drivers.qmpdriver import QMPError, QMPPowerDriver


def log_request(state_dir: Path, op: str, param: str, value: str) -> None:
    """Append one chassis request, with its time, to ``STATE_DIR/chassis.log``."""
    with (state_dir / "chassis.log").open("a") as log:
        log.write(f"{time.time():.3f} {op} {param} {value}".rstrip() + "\n")


def boot_override(state_dir: Path, op: str, value: str) -> None:
    """``get``/``set boot``: the one-time boot override kept in ``STATE_DIR/boot-once`` (printed for get)."""
    boot = state_dir / "boot-once"
    if op == "get":
        print(f"boot:{boot.read_text().strip() if boot.exists() else 'default'}")
    elif value in ("default", "none"):
        boot.unlink(missing_ok=True)
    else:
        boot.write_text(value + "\n")


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print("usage: chassis QMP_SOCKET STATE_DIR get|set PARAM [VALUE]", file=sys.stderr)
        return 2
    sock, state_dir, op, param = argv[0], Path(argv[1]), argv[2], argv[3]
    value = argv[4] if len(argv) > 4 else ""
    log_request(state_dir, op, param, value)
    drv = QMPPowerDriver(sock)
    boot = state_dir / "boot-once"
    try:
        if op == "get" and param == "power":
            print(f"power:{0 if drv.status() in (PowerState.OFF, PowerState.UNKNOWN) else 1}")
        elif param == "boot" and op in ("get", "set"):
            boot_override(state_dir, op, value)
        elif op == "set" and param == "power":
            if value == "1":
                boot.unlink(missing_ok=True)  # consumed by this power-on
                drv.on()
            else:
                drv.off()
        elif op == "set" and param == "reset":
            boot.unlink(missing_ok=True)
            drv.cycle()
        elif op == "set" and param == "shutdown":
            drv.off()
        elif op == "set" and param == "identify":
            pass
        else:
            print(f"chassis: unsupported request {op} {param}", file=sys.stderr)
            return 1
    except (QMPError, OSError) as e:
        print(f"chassis: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
