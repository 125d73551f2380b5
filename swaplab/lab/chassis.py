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
from typing import Protocol

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


class ChassisError(Exception):
    """The power behind the chassis refused a request (its words are the IPMI error's)."""


class ChassisPower(Protocol):
    """What a chassis program drives: the virtual lab's QEMU (QMP) or a simulated rack's daemon."""

    def is_on(self) -> bool: ...
    def on(self) -> None: ...
    def off(self) -> None: ...
    def reset(self) -> None: ...


class QMPChassis:
    def __init__(self, sock: str) -> None:
        self.drv = QMPPowerDriver(sock)

    def is_on(self) -> bool:
        return self.drv.status() not in (PowerState.OFF, PowerState.UNKNOWN)

    def on(self) -> None:
        self.drv.on()

    def off(self) -> None:
        self.drv.off()

    def reset(self) -> None:
        self.drv.cycle()


def serve(power: ChassisPower, state_dir: Path, op: str, param: str, value: str) -> int:
    """One request of ipmi_sim's, for any chassis: logged, answered, the boot override consumed by the
    next power-on or reset. Exit status: 0, or 1 (an IPMI error) with the reason on stderr."""
    log_request(state_dir, op, param, value)
    boot = state_dir / "boot-once"
    try:
        if op == "get" and param == "power":
            print(f"power:{1 if power.is_on() else 0}")
        elif param == "boot" and op in ("get", "set"):
            boot_override(state_dir, op, value)
        elif op == "set" and param == "power" and value == "1":
            boot.unlink(missing_ok=True)  # consumed by this power-on
            power.on()
        elif op == "set" and (param == "shutdown" or (param == "power" and value != "1")):
            power.off()
        elif op == "set" and param == "reset":
            boot.unlink(missing_ok=True)
            power.reset()
        elif op == "set" and param == "identify":
            pass
        else:
            print(f"chassis: unsupported request {op} {param}", file=sys.stderr)
            return 1
    except (ChassisError, QMPError, OSError) as e:
        print(f"chassis: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print("usage: chassis QMP_SOCKET STATE_DIR get|set PARAM [VALUE]", file=sys.stderr)
        return 2
    return serve(QMPChassis(argv[0]), Path(argv[1]), argv[2], argv[3], argv[4] if len(argv) > 4 else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
