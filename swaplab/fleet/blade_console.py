"""A blade's console as its session reads it: marks, slices since a mark, and magic sysrq with the
kernel's answer. A blade without a console (no driver configured) reads as empty."""

from __future__ import annotations

from pathlib import Path

from swaplab.drivers.protocols import ConsoleProtocol
from swaplab.fleet.settings import InfraError

SYSRQ_ANSWER_S = 5.0  # how long the console is read after a sysrq for the kernel's answer


class BladeConsole:
    def __init__(self, name: str, console: ConsoleProtocol | None) -> None:
        self.name, self.driver = name, console
        self.start = self.mark()  # the session's first contact: the whole run's console starts here

    def mark(self) -> int:
        return self.driver.mark() if self.driver else 0

    def since(self, mark: int) -> bytes:
        return self.driver.since(mark) if self.driver else b""

    def since_start(self) -> bytes:
        return self.since(self.start)

    def save_since(self, mark: int, path: Path) -> str:
        """The console since ``mark``, written to ``path`` (if there is a console), as text."""
        data = self.since(mark)
        if self.driver is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return data.decode(errors="replace")

    def sysrq(self, key: str) -> bytes:
        """Send magic sysrq ``key`` through the console transport; what the console shows after it (the
        kernel's answer: blocked tasks for ``w``), read for up to a few seconds."""
        if self.driver is None:
            raise InfraError(f"{self.name} has no console: sysrq cannot be sent")
        mark = self.driver.mark()
        try:
            self.driver.send_sysrq(key)
        except Exception as e:  # a transport's own errors: SOL, QMP
            raise InfraError(f"{self.name}: sysrq {key} could not be sent: {e}") from e
        answer = b""
        for line in self.driver.follow(SYSRQ_ANSWER_S, mark=mark):
            answer += line.encode() + b"\n"
        return answer
