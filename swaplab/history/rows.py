"""What a history reads back, typed: nights, series names, metric values; and the checks every row read
passes (a history file is untrusted like a run directory: a row of the wrong type or past its bounds is
``HistoryInputError``, naming the row)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from swaplab.textsafe import shown

from .facts import HistoryInputError
from .schema import NAME_MAX, SAMPLES_MAX


@dataclass(frozen=True)
class NightRef:
    id: int
    seq: int
    lab: str
    release: str
    package_sha256: str
    commit: str | None
    label: str | None
    finished: str
    exit_code: int

    def kernel_text(self) -> str:
        bits = [self.release]
        if self.commit:
            bits.append(self.commit[:12])
        if self.label:
            bits.append(self.label)
        return " ".join(bits)

    def to_json(self) -> dict[str, Any]:
        return {
            "night": self.seq,
            "lab": self.lab,
            "kernel": self.release,
            "package_sha256": self.package_sha256,
            "commit": self.commit,
            "label": self.label,
            "finished": self.finished,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True)
class SeriesName:
    rack: str
    blade: str
    hw_class: str
    kind: str
    name: str


@dataclass(frozen=True)
class MetricValue:
    value: float
    ci95_low: float | None
    ci95_high: float | None
    samples: tuple[float, ...]


@dataclass
class SeriesData:
    names: dict[int, SeriesName] = field(default_factory=dict)
    cases: dict[tuple[int, int], tuple[str, str | None, str]] = field(default_factory=dict)  # (outcome, rerun, msg)
    metrics: dict[tuple[int, int], MetricValue] = field(default_factory=dict)
    findings: dict[tuple[int, int], int] = field(default_factory=dict)


def tampered(what: str) -> HistoryInputError:
    return HistoryInputError(
        f"history: {what} is not a row swaplab wrote (tampered or corrupt): restore the history from its backup"
    )


def row_int(v: object, where: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or abs(v) >= 1 << 62:
        raise tampered(f"{where} {shown(repr(v), 40)}")
    return v


def row_num(v: object, where: str) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v <= 0 or v > 1e12:
        raise tampered(f"{where} {shown(repr(v), 40)}")
    return float(v)


def row_opt_num(v: object, where: str) -> float | None:
    return None if v is None else row_num(v, where)


def row_name(v: object, where: str, limit: int = NAME_MAX) -> str:
    if not isinstance(v, str) or len(v) > limit:
        raise tampered(f"{where} {shown(repr(v), 40)}")
    return v


def row_opt(v: object, where: str, limit: int = NAME_MAX) -> str | None:
    return None if v is None else row_name(v, where, limit)


def row_samples(v: object) -> tuple[float, ...]:
    if not isinstance(v, str) or len(v) > 40 * SAMPLES_MAX:
        raise tampered("metrics.samples")
    try:
        values = json.loads(v)
    except ValueError:
        raise tampered("metrics.samples") from None
    if not isinstance(values, list) or len(values) > SAMPLES_MAX:
        raise tampered("metrics.samples")
    return tuple(row_num(x, "metrics.samples") for x in values)
