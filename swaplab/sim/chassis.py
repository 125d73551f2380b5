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

from swaplab.lab.chassis import boot_override, log_request


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


def main(argv: list[str]) -> int:
    if len(argv) < 5:
        print("usage: chassis RACK_SOCKET BLADE STATE_DIR get|set PARAM [VALUE]", file=sys.stderr)
        return 2
    sock, blade, state_dir, op, param = argv[0], argv[1], Path(argv[2]), argv[3], argv[4]
    value = argv[5] if len(argv) > 5 else ""
    log_request(state_dir, op, param, value)
    boot = state_dir / "boot-once"
    try:
        if op == "get" and param == "power":
            print(f"power:{1 if ask(sock, f'power {blade} status') == 'ok on' else 0}")
        elif param == "boot" and op in ("get", "set"):
            boot_override(state_dir, op, value)
        elif op == "set" and param in ("power", "reset", "shutdown"):
            if param == "reset" or (param == "power" and value == "1"):
                boot.unlink(missing_ok=True)
            if param == "reset":
                answer = ask(sock, f"power {blade} off")
                answer = answer if not answer.startswith("ok") else ask(sock, f"power {blade} on")
            else:
                answer = ask(sock, f"power {blade} {'on' if param == 'power' and value == '1' else 'off'}")
            if not answer.startswith("ok"):
                print(f"chassis: {answer}", file=sys.stderr)
                return 1
        elif op == "set" and param == "identify":
            pass
        else:
            print(f"chassis: unsupported request {op} {param}", file=sys.stderr)
            return 1
    except OSError as e:
        print(f"chassis: the rack daemon did not answer: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
