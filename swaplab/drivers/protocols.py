"""The protocols every power and console driver implements."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from typing import Protocol, runtime_checkable


class PowerState(enum.Enum):
    ON = "on"
    OFF = "off"
    PAUSED = "paused"  # frozen in place (fault injection); not a rack state
    UNKNOWN = "unknown"


class PowerProtocol(Protocol):
    def on(self) -> None: ...
    def off(self) -> None: ...
    def cycle(self) -> None: ...
    def status(self) -> PowerState: ...


@runtime_checkable
class PausableProtocol(PowerProtocol, Protocol):
    """A machine that can be frozen in place and thawed (a virtual lab's, for fault injection); a blade
    behind a BMC cannot, and its driver does not pretend to."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...


NOT_PAUSABLE = "a blade behind a BMC cannot be paused (fault injection is the virtual lab's: QMP)"


class ConsoleProtocol(Protocol):
    def mark(self) -> int:
        """A position in the stream: where it is now."""
        ...

    def since(self, mark: int) -> bytes:
        """Everything the stream has held since ``mark`` (bounded: its tail if it is huge)."""
        ...

    def follow(self, timeout: float, mark: int | None = None) -> Iterator[str]:
        """Yield console lines from ``mark`` (default: now) as they arrive, for at most ``timeout`` seconds."""
        ...

    def send_sysrq(self, key: str) -> None:
        """Magic sysrq ``key`` through the console's own input path (a SOL break, QMP's keyboard)."""
        ...


def wait_for_state(driver: PowerProtocol, state: PowerState, seconds: float, poll_s: float = 1.0,
                   max_poll_s: float = 5.0) -> bool:  # fmt: skip
    """Poll ``driver`` until it reports ``state``; False if it has not within ``seconds``. The pause between
    polls grows by half each time up to ``max_poll_s``: a rack's BMCs are not asked once a second each."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if driver.status() is state:
            return True
        time.sleep(max(0.0, min(poll_s, deadline - time.monotonic())))
        poll_s = min(max_poll_s, poll_s * 1.5)
    return False
