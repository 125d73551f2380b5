"""What a run found, independent of any output format (pure data).

A ``Case`` is one JUnit test case: its outcome, and the typed records (``swaplab.records``) the suite
reported. Every writer reads these, never a free-form dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from swaplab.records import FindingRecord, Record, from_json, to_json

OUTCOMES = ("passed", "failed", "error", "skipped")
MAX_FINDINGS_TOLD = 50  # findings told in a case's account; the rest are counted (results.json has them all)
R = TypeVar("R")


@dataclass
class Case:
    blade: str
    suite: str  # config, hog, fio, verdict (swaplab.options.SUITES); provision, run
    name: str
    outcome: str  # one of OUTCOMES
    seconds: float = 0.0
    message: str = ""
    details: str = ""
    records: list[Record] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)

    def of(self, kind: type[R]) -> Iterator[R]:
        """This case's records of one type."""
        return (r for r in self.records if isinstance(r, kind))

    @classmethod
    def from_dict(cls, c: dict[str, Any]) -> Case:
        """The case ``to_dict`` made (KeyError, TypeError or ValueError if it is not one)."""
        return cls(blade=str(c["blade"]), suite=str(c["suite"]), name=str(c["name"]), outcome=str(c["outcome"]),
                   seconds=float(c["seconds"]), message=str(c["message"]), details=str(c["details"]),
                   records=[from_json(r) for r in c["records"]],
                   attachments=[str(a) for a in c["attachments"]])  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"blade": self.blade, "suite": self.suite, "name": self.name, "outcome": self.outcome,
                "seconds": self.seconds, "message": self.message, "details": self.details,
                "records": [to_json(r) for r in self.records], "attachments": list(self.attachments)}  # fmt: skip


def headline(case: Case) -> str:
    """A failed or errored case in one line: its first problem (kind, what, where). The JUnit ``message``
    Jenkins shows on the build page, and the report's case row."""
    return next((line.strip() for line in case.message.splitlines() if line.strip()), case.outcome)


def account(case: Case) -> str:
    """What happened in a case, for a release engineer: every problem it named, then every finding that
    failed or warned, with when it came (seconds into its load, the kernel's uptime) and the console around
    it. No test code, tracebacks or object reprs (those are ``case.details``, kept apart)."""
    parts = [case.message.strip() or case.outcome]
    told = [r for r in case.of(FindingRecord) if r.severity in ("fail", "warn")]
    if told:
        parts.append(f"\nfindings ({len(told)}):")
    for r in told[:MAX_FINDINGS_TOLD]:
        when = [f"{r.at_s:.0f} s into {r.load}" if r.at_s is not None and r.load else "",
                f"uptime {r.kernel_time_s:.1f} s" if r.kernel_time_s is not None else ""]  # fmt: skip
        parts.append(f"- {r.kind} ({r.severity}; {'; '.join(w for w in [*when, f'{r.source}:{r.line}'] if w)}): "
                     f"{r.text}")  # fmt: skip
        if r.excerpt:
            parts.append("\n".join("    " + line for line in r.excerpt.splitlines()))
    if len(told) > MAX_FINDINGS_TOLD:
        parts.append(f"... and {len(told) - MAX_FINDINGS_TOLD} more (results.json has them all)")
    return "\n".join(parts)


@dataclass
class BladeResult:
    name: str
    properties: dict[str, str] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(c.outcome == outcome for c in self.cases)

    def of(self, kind: type[R]) -> list[R]:
        """Every record of one type this blade's cases reported, in case order."""
        return [r for c in self.cases for r in c.of(kind)]


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
