"""The ``file`` console: a log a console server (conserver, ser2net) or QEMU writes, or the SOL recorder's.

A position in the stream is a byte offset: ``mark`` is where the stream is now,
``since(mark)`` everything written after it. Following a live stream line by
line is ``follow``. Every consumer (the fleet suites, the reports) reads a
console through these, never the file itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

# The most of a console one read returns: its tail (a load's slice is a few hundred kB).
MAX_SLICE_BYTES = 64 << 20


class FileConsole:
    def __init__(self, path: str, sysrq: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self._sysrq = sysrq

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

    def follow(self, timeout: float, mark: int | None = None) -> Iterator[str]:
        """Yield whole lines (CR/LF kept off) from ``mark`` (default: now) as they are written, for at
        most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        offset = self.mark() if mark is None else mark
        pending = b""
        while time.monotonic() < deadline:
            data = self.since(offset)
            offset += len(data)
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace").rstrip("\r")
            time.sleep(0.2)

    def send_sysrq(self, key: str) -> None:
        if self._sysrq is None:
            raise RuntimeError(f"the console {self.path} has no input path for sysrq (a console server's log)")
        self._sysrq(key)
