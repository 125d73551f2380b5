"""The ``file`` console: a log a console server (conserver, ser2net) or QEMU writes, or the SOL recorder's.

A position in the stream is a byte offset: ``mark`` is where the stream is now,
``since(mark)`` everything written after it. Following a live stream line by
line is ``follow``. Every consumer (the fleet suites, the reports) reads a
console through these, never the file itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from swaplab.drivers.qmpdriver import QMPPowerDriver

# The most of a console one read returns: its tail (a load's slice is a few hundred kB).
MAX_SLICE_BYTES = 64 << 20


class FileConsole:
    def __init__(self, path: str, qmp_socket: str | None = None) -> None:
        self.path = Path(path)
        self.qmp_socket = qmp_socket
        self._offset = 0

    def mark(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def since(self, mark: int) -> bytes:
        try:
            with self.path.open("rb") as f:
                size = f.seek(0, 2)
                f.seek(max(mark, size - MAX_SLICE_BYTES))
                return f.read(MAX_SLICE_BYTES)
        except OSError:
            return b""

    def follow(self, timeout: float, from_start: bool = False) -> Iterator[str]:
        """Yield whole lines (CR/LF kept off) as they are written, for at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        self._offset = 0 if from_start else (self._offset or self.mark())
        pending = b""
        while time.monotonic() < deadline:
            data = self.since(self._offset)
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
