"""``python -I -m swaplab.sim.chassis RACK_SOCKET BLADE STATE_DIR get|set PARAM [VALUE]``: a simulated chassis.

ipmi_sim's chassis-control program for a simulated blade (as ``swaplab.lab.chassis`` is for a QEMU one):
power requests go to the rack daemon (``swaplab.sim.rackd``), the one-time boot override is kept in
STATE_DIR and consumed by the next power-on, and every request is appended to ``STATE_DIR/chassis.log``
with its time (the bench reads when each power-on was issued).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from swaplab.lab.chassis import ChassisError, serve


def ask(sock: str, request: str, timeout: float = 20.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock)
        s.sendall(request.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").strip()


class RackChassis:
    """A simulated blade's power, asked of the rack daemon over its socket."""

    def __init__(self, sock: str, blade: str) -> None:
        self.sock, self.blade = sock, blade

    def _power(self, what: str) -> str:
        answer = ask(self.sock, f"power {self.blade} {what}")
        if what != "status" and not answer.startswith("ok"):
            raise ChassisError(answer)
        return answer

    def is_on(self) -> bool:
        return self._power("status") == "ok on"

    def on(self) -> None:
        self._power("on")

    def off(self) -> None:
        self._power("off")

    def reset(self) -> None:
        self._power("off")
        self._power("on")


def main(argv: list[str]) -> int:
    if len(argv) < 5:
        print("usage: chassis RACK_SOCKET BLADE STATE_DIR get|set PARAM [VALUE]", file=sys.stderr)
        return 2
    return serve(RackChassis(argv[0], argv[1]), Path(argv[2]), argv[3], argv[4], argv[5] if len(argv) > 5 else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
