"""Console: follow a serial console that QEMU (or a console server) writes to a file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from swaplab.drivers.qmpdriver import QMPPowerDriver


class SerialFileConsoleDriver:
    def __init__(self, path: str, qmp_socket: str | None = None) -> None:
        self.path = Path(path)
        self.qmp_socket = qmp_socket
        self._offset = 0

    def follow(self, timeout: float, from_start: bool = False) -> Iterator[str]:
        """Yield whole lines (CR/LF kept off) as they are written, for at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        if from_start:
            self._offset = 0
        elif self._offset == 0 and self.path.exists():
            self._offset = self.path.stat().st_size
        pending = b""
        while time.monotonic() < deadline:
            if self.path.exists():
                with self.path.open("rb") as f:
                    f.seek(self._offset)
                    data = f.read()
                self._offset += len(data)
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace").rstrip("\r")
            time.sleep(0.2)

    def send_sysrq(self, key: str) -> None:
        if self.qmp_socket is None:
            raise RuntimeError("this console has no way to send sysrq (no QMP socket)")
        QMPPowerDriver(self.qmp_socket).send_sysrq(key)
