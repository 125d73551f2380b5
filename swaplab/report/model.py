"""What a run found, independent of any output format (pure data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("passed", "failed", "error", "skipped")


@dataclass
class Case:
    blade: str
    suite: str  # swap_config, loads, verdict, provision
    name: str
    outcome: str  # one of OUTCOMES
    seconds: float = 0.0
    message: str = ""
    details: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    attachments: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BladeResult:
    name: str
    properties: dict[str, str] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(c.outcome == outcome for c in self.cases)


def exit_code(blades: list[BladeResult]) -> int:
    """0 every check passed; 1 a kernel check failed; 2 swaplab could not do its job.

    A kernel failure wins over an infrastructure error elsewhere: the release is
    blocked either way, and the failure is the more useful news. A run with no
    case at all is an error, never a green run.
    """
    cases = [c for b in blades for c in b.cases]
    if not cases:
        return 2
    if any(c.outcome == "failed" for c in cases):
        return 1
    if any(c.outcome == "error" for c in cases):
        return 2
    return 0
