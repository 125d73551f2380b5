"""What one run gives the history: a ``Night`` of typed facts, from a results.json read as untrusted input.

Pure but for reading the run directory (bounded, inside it). Every string is cut to the store's bounds and
every figure checked finite and positive; a run that contradicts itself (a blade whose own kernel is not
the run's) is refused with one line naming it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from swaplab import errors
from swaplab.records import Facts, FindingRecord, FioRun, HogTrial, RatioRecord
from swaplab.report.merge import rack_name
from swaplab.report.model import BladeResult
from swaplab.report.results import RunResult
from swaplab.rundir import HOST_LABEL_RE, RESULTS
from swaplab.textsafe import shown
from swaplab.untrusted import UnsafeFile, read_inside

from .schema import MESSAGE_MAX, NAME_MAX, SAMPLES_MAX

OUTCOME = {"passed": "pass", "failed": "failure", "error": "error", "skipped": "skipped"}
CONFIG_MAX_BYTES = 2 << 20  # a kernel's .config is about 250 KiB
SETTING_RE = re.compile(r"[0-9A-Za-z.]{1,20}", re.ASCII)
RERUN_FACT = "confirm_rerun"  # a case's Facts record: the outcome of its confirming rerun


class HistoryInputError(errors.BadInput):
    """A run directory or a history the store cannot take: named, with the fix; nothing was stored."""


@dataclass(frozen=True)
class MetricFacts:
    name: str  # ratio, hog.nfs.s, hog.nbd.s, fio.nfs.seq-write-64k.bw, fio+hog.nbd.rand-read-4k.p99, ...
    value: float
    samples: tuple[float, ...]
    ci95_low: float | None = None
    ci95_high: float | None = None


@dataclass(frozen=True)
class CaseFacts:
    suite: str
    name: str
    outcome: str  # pass, failure, error, skipped
    message: str
    rerun: str | None = None


@dataclass
class BladeFacts:
    name: str
    rack: str
    hw_class: str
    cases: list[CaseFacts] = field(default_factory=list)
    findings: Counter[tuple[str, str]] = field(default_factory=Counter)
    metrics: list[MetricFacts] = field(default_factory=list)


@dataclass
class NightFacts:
    release: str
    package_sha256: str
    config_sha256: str | None
    finished: str
    exit_code: int
    lab: str
    blades: list[BladeFacts]
    label: str | None = None
    commit: str | None = None

    @property
    def run_key(self) -> str:
        """The run's identity: the same run ingested twice (a run directory and a copy of it) is one night."""
        who = sorted((b.rack, b.name) for b in self.blades)
        return hashlib.sha256(json.dumps([self.package_sha256, self.finished, self.lab, who]).encode()).hexdigest()


def _cut(text: str, limit: int = NAME_MAX) -> str:
    return shown(text, limit)


def higher_is_worse(metric: str) -> bool:
    """A ratio, a time, a p99 get worse upwards; a bandwidth downwards."""
    return not base_metric(metric).endswith(".bw")


def _finite(values: list[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v) and v > 0][:SAMPLES_MAX]


def _setting(value: object) -> str:
    text = str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else "?"
    return text if SETTING_RE.fullmatch(text) else "?"


def settings_keys(options: dict[str, object], blade: str) -> tuple[str, str]:
    """What makes one night's figures comparable with another's (as ``compare`` requires): the hog's working
    set and the blade's memory; fio's size and runtime. A series is one metric under one such key."""
    memory = options.get("blade_memory_mib")
    mem = memory.get(blade) if isinstance(memory, dict) else None
    mem = mem if mem is not None else options.get("blade_memory")
    hog = f"@{_setting(options.get('working_set'))}/{_setting(mem)}MiB"
    fio = f"@{_setting(options.get('fio_size_mib'))}MiB/{_setting(options.get('fio_runtime_s'))}s"
    return hog, fio


def base_metric(name: str) -> str:
    """A series' metric without its settings key: ``ratio@2x/192MiB`` is a ``ratio``."""
    return name.split("@", 1)[0]


def blade_metrics(b: BladeResult, hog_key: str = "", fio_key: str = "") -> list[MetricFacts]:
    out: list[MetricFacts] = []
    for r in b.of(RatioRecord):
        samples = _finite(list(r.per_pair))
        if math.isfinite(r.ratio) and r.ratio > 0 and samples:
            out.append(MetricFacts(f"ratio{hog_key}", r.ratio, tuple(samples), r.ci95_low, r.ci95_high))
    for store in ("nfs", "nbd"):
        times = _finite(
            [t.total_s for t in b.of(HogTrial) if t.trial is not None and t.store == store and t.status == "done"]
        )
        if times:
            out.append(MetricFacts(f"hog.{store}.s{hog_key}", statistics.geometric_mean(times), tuple(times)))
    for f in b.of(FioRun):
        where = f"fio{'+hog' if f.under_pressure else ''}.{f.store}"
        for j in f.jobs:
            job = _cut(j.job, 60)
            if bw := _finite([j.bw_mib_s]):
                out.append(MetricFacts(f"{where}.{job}.bw{fio_key}", bw[0], tuple(bw)))
            if p99 := _finite([j.p99_ms]):
                out.append(MetricFacts(f"{where}.{job}.p99{fio_key}", p99[0], tuple(p99)))
    return list({m.name: m for m in out}.values())  # one per name: the last wins (a resumed run's)


def _rerun(case_records: list[object]) -> str | None:
    for r in case_records:
        if isinstance(r, Facts) and isinstance(v := r.values.get(RERUN_FACT), str) and v in OUTCOME:
            return OUTCOME[v]
    return None


def _config_sha256(run_dir: Path, result: RunResult) -> str | None:
    """The kernel's .config as the run attached it (the config suite's ``kernel.config``), hashed."""
    for b in result.blades:
        for c in b.cases:
            for a in c.attachments:
                if Path(a).name == "kernel.config":
                    try:
                        rel = Path(a).relative_to(run_dir) if Path(a).is_absolute() else Path(a)
                        return hashlib.sha256(read_inside(run_dir, rel, CONFIG_MAX_BYTES)).hexdigest()
                    except (UnsafeFile, ValueError):
                        continue
    return None


def night_of(
    run_dir: Path,
    lab: str | None = None,
    label: str | None = None,
    commit: str | None = None,
    hw_classes: dict[str, str] | None = None,
) -> NightFacts:
    """The night a run directory (or a merged sign-off) gives. ``HistoryInputError`` naming the problem."""
    try:
        result = RunResult.load(run_dir / RESULTS)
    except ValueError as e:
        raise HistoryInputError(f"{shown(str(e), 300)}: give a run directory swaplab wrote") from None
    where = shown(str(run_dir), 120)
    sha = result.kernel.sha256
    if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
        raise HistoryInputError(
            f"{where}: its kernel has no package sha256 ({shown(sha, 70)!s}): the history keys "
            "a night by it; give a run swaplab wrote"
        )
    lab = lab or rack_name(result)
    if not HOST_LABEL_RE.fullmatch(lab):
        raise HistoryInputError(f"lab name {shown(lab, 80)!r} is not a host-name label: give --lab NAME")
    blades: list[BladeFacts] = []
    for b in result.blades:
        if b.name == "run":
            continue
        claimed = b.properties.get("kernel.sha256")
        if claimed not in (None, "", sha):
            raise HistoryInputError(
                f"{where}: blade {shown(b.name, 80)} ran kernel {shown(str(claimed), 70)}, not "
                f"the run's {sha[:12]}: the run contradicts itself; ingest the blade's own run"
            )
        rack = str(b.properties.get("rack") or lab)
        if not HOST_LABEL_RE.fullmatch(rack):
            raise HistoryInputError(f"{where}: rack name {shown(rack, 80)!r} is not a host-name label")
        hw = (hw_classes or {}).get(b.name) or str(b.properties.get("hw.class") or "blades")
        bf = BladeFacts(b.name, rack, _cut(hw))
        for c in b.cases:
            lines = [x.strip() for x in c.message.splitlines() if x.strip()]
            # the verdict shows one line: the first, with the next where the first only announces it
            headline = " ".join(lines[:2]) if lines and lines[0].endswith(":") else (lines[0] if lines else "")
            bf.cases.append(
                CaseFacts(
                    _cut(c.suite),
                    _cut(c.name),
                    OUTCOME.get(c.outcome, "error"),
                    shown(headline, MESSAGE_MAX),
                    _rerun(list(c.records)),
                )
            )
        seen = {(f.kind, f.severity, f.text) for f in b.of(FindingRecord)}
        bf.findings = Counter((_cut(k, 60), _cut(s, 10)) for k, s, _ in seen)
        bf.metrics = blade_metrics(b, *settings_keys(result.options, b.name))
        blades.append(bf)
    if not blades:
        raise HistoryInputError(f"{where}: no blade's results in it: nothing to remember")
    return NightFacts(
        release=_cut(result.kernel.release),
        package_sha256=sha,
        config_sha256=_config_sha256(run_dir, result),
        finished=_cut(result.finished, 40),
        exit_code=result.exit_code,
        lab=lab,
        blades=blades,
        label=label,
        commit=commit,
    )
