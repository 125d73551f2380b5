"""Fakes that speak the real protocols, for unit tests of logic (never a lab's stand-in)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any


class FakeQMP:
    """A QEMU machine's QMP socket: greeting, capabilities, query-status, stop, cont, system_reset, sendkey.

    ``running`` is the vCPU state; ``calls`` every command in order."""

    def __init__(self, path: Path, running: bool = False) -> None:
        self.path = path
        self.running = running
        self.calls: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                f.write(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
                f.flush()
                for line in f:
                    msg = json.loads(line)
                    f.write(json.dumps({"return": self._do(msg["execute"], msg.get("arguments"))}).encode() + b"\r\n")
                    f.flush()

    def _do(self, command: str, _args: Any) -> Any:
        if command != "qmp_capabilities":
            self.calls.append(command)
        if command == "query-status":
            return {"running": self.running, "status": "running" if self.running else "paused"}
        if command == "stop":
            self.running = False
        elif command == "cont":
            self.running = True
        return {}

    def close(self) -> None:
        self._sock.close()
