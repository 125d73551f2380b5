"""`swaplab compare BASELINE CANDIDATE`: did the candidate kernel get worse? (pure, on two ``RunResult``s)

First, are the runs comparable. That is decided on what the operator set and what the lab is, never on
what the kernel reports: the same blades, each with the same configured memory (the inventory's
``swaplab_memory_mib``, or the virtual lab's ``--blade-memory``), the same working-set rule (``2x``,
``400M``), fio settings, the hog suite in both, and on the virtual lab the same kind of NAS. Every
difference is listed; runs that differ are not compared (exit 2). What each kernel reports (MemTotal,
and the working set in MiB that ``2x`` makes of it) differs between any two kernels on one machine: it
is shown side by side, and a difference beyond ``TOLERANCE_PCT`` is a warning. Where a blade's
configured memory is not recorded (an inventory without ``swaplab_memory_mib``), MemTotal within the
tolerance stands in for it, and the comparison says so.

Then, per blade, every metric both runs have:
- the hog time per store and the NFS/NBD ratio, from the trials: the change of the geometric mean,
  with a 95% interval from Welch's t on the log values (times and ratios live on a log scale); the
  change is significant when the interval excludes zero;
- fio bandwidth and p99 latency per store and job: one measurement per run, so the change is given
  with no interval, and never called significant on its own;
- the count of each kind of finding.

The gate (exit 1): a gated metric (the NFS hog time and the ratio) significantly worse by more than
the threshold (default 10%: the point estimate beyond it, the interval excluding zero), or a finding
kind of severity fail or warn that the baseline did not have.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from swaplab import machine
from swaplab.records import FindingRecord, FioRun, HogTrial, RatioRecord
from swaplab.report.model import BladeResult
from swaplab.report.results import RunResult
from swaplab.stats import t95
from swaplab.textsafe import shown, visible

GATED = ("hog time NFS", "NFS/NBD ratio")
# How far the kernel-reported memory (MemTotal, the working set it makes) may differ before compare warns.
TOLERANCE_PCT = 10.0


@dataclass
class Change:
    blade: str
    metric: str
    unit: str
    higher_is_better: bool
    baseline: float  # geometric mean (one value: that value)
    candidate: float
    n_baseline: int
    n_candidate: int
    change_pct: float  # candidate against baseline
    ci95_low_pct: float | None = None
    ci95_high_pct: float | None = None
    gated: bool = False

    @property
    def significant(self) -> bool:
        lo, hi = self.ci95_low_pct, self.ci95_high_pct
        return lo is not None and hi is not None and (lo > 0 or hi < 0)

    @property
    def worse(self) -> bool:
        """Significantly worse: the change goes the bad way and its interval excludes zero."""
        bad = self.change_pct < 0 if self.higher_is_better else self.change_pct > 0
        return self.significant and bad

    def verdict(self) -> str:
        if self.ci95_low_pct is None:
            return "no interval (one measurement)" if min(self.n_baseline, self.n_candidate) <= 1 else "no interval"
        if not self.significant:
            return "no significant change"
        return "significantly worse" if self.worse else "significantly better"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant, "worse": self.worse, "verdict": self.verdict()}


@dataclass
class Comparison:
    baseline: str  # kernel release of each
    candidate: str
    threshold_pct: float
    differences: list[str] = field(default_factory=list)  # why the runs are not comparable
    warnings: list[str] = field(default_factory=list)  # comparable, but read the figures with this in mind
    # blade -> what each kernel reported, side by side: label -> (baseline, candidate)
    context: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    findings: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # blade -> kind -> (base, cand)
    gate_failures: list[str] = field(default_factory=list)
    unmeasured: list[str] = field(default_factory=list)  # blades with nothing to compare: the input's fault

    @property
    def comparable(self) -> bool:
        return not self.differences

    @property
    def exit_code(self) -> int:
        """1: the candidate is worse somewhere; else 2 when something could not be compared; else 0."""
        return 2 if not self.comparable else 1 if self.gate_failures else 2 if self.unmeasured else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline, "candidate": self.candidate, "threshold_pct": self.threshold_pct,
            "comparable": self.comparable, "differences": self.differences, "warnings": self.warnings,
            "context": {b: {k: {"baseline": v[0], "candidate": v[1]} for k, v in labels.items()}
                        for b, labels in self.context.items()},
            "changes": [c.to_json() for c in self.changes],
            "findings": {b: {k: {"baseline": v[0], "candidate": v[1]} for k, v in kinds.items()}
                         for b, kinds in self.findings.items()},
            "gate_failures": self.gate_failures, "unmeasured": self.unmeasured, "exit_code": self.exit_code,
            "verdict": ("not comparable" if not self.comparable else
                        "significantly worse" if self.gate_failures else
                        "nothing measured to compare" if self.unmeasured else "no significant regression"),
        }  # fmt: skip


def welch_log(base: list[float], cand: list[float]) -> tuple[float, float | None, float | None]:
    """The change of the geometric mean, in percent, and its 95% interval (Welch's t on the logs)."""
    lx, ly = [math.log(v) for v in base], [math.log(v) for v in cand]
    d = statistics.fmean(ly) - statistics.fmean(lx)
    change = 100.0 * (math.exp(d) - 1)
    if len(lx) < 2 or len(ly) < 2:
        return change, None, None
    vx, vy = statistics.variance(lx) / len(lx), statistics.variance(ly) / len(ly)
    se = math.sqrt(vx + vy)
    if se == 0:
        return change, change, change
    df = (vx + vy) ** 2 / ((vx**2 / (len(lx) - 1)) + (vy**2 / (len(ly) - 1)))
    half = t95(max(1, math.floor(df))) * se
    return change, 100.0 * (math.exp(d - half) - 1), 100.0 * (math.exp(d + half) - 1)


def _gmean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def configured_memory(run: RunResult, blade: str) -> tuple[int | None, str]:
    """The blade's memory as the operator configured it, in MiB, and where that was read; (None, why not). A
    value that is no blade's memory (zero, negative, huge) counts as not recorded."""
    per_blade = run.options.get("blade_memory_mib")
    value = per_blade.get(blade) if isinstance(per_blade, dict) else None
    if _memory(value):
        return value, "the inventory's swaplab_memory_mib"
    if isinstance(per_blade, dict) or run.options.get("inventory") is not None:
        return None, "its inventory has no swaplab_memory_mib for it"
    value = run.options.get("blade_memory")  # a virtual-lab run from before per-blade memory was recorded
    if _memory(value):
        return value, "the virtual lab's --blade-memory"
    return None, "the run recorded no memory for it"


MAX_MEMORY_MIB = 1 << 24  # 16 TiB: a configured memory beyond it is not a blade's


def _memory(value: object) -> bool:
    """A configured memory a blade can have: a positive integer of MiB, not past ``MAX_MEMORY_MIB``."""
    return type(value) is int and 0 < value <= MAX_MEMORY_MIB


def _apart_pct(a: float, b: float) -> float:
    return 100.0 * abs(b - a) / min(a, b) if min(a, b) > 0 else math.inf


def _spread(label: str, unit: str, base: set[int], cand: set[int]) -> tuple[str, float] | None:
    """``(text, percent)`` when the two runs' values are more than the tolerance apart."""
    if not base or not cand:
        return None
    pct = _apart_pct(statistics.fmean(base), statistics.fmean(cand))
    if pct <= TOLERANCE_PCT:
        return None
    return f"{label} baseline {sorted(base)} {unit}, candidate {sorted(cand)} {unit} ({pct:.1f}% apart)", pct


def _comparability(base: RunResult, cand: RunResult, cmp: Comparison) -> None:
    """Fill ``differences`` (what makes the runs incomparable), ``warnings`` and the side-by-side context."""
    out, warn = cmp.differences, cmp.warnings
    bb = {b.name: b for b in base.blades if b.name != "run"}
    cb = {b.name: b for b in cand.blades if b.name != "run"}
    if not set(bb) & set(cb):
        out.append(f"no blade in common: baseline {shown(sorted(bb))}, candidate {shown(sorted(cb))}: nothing to "
                   "compare")  # fmt: skip
    elif set(bb) != set(cb):
        out.append(f"blades differ: baseline {shown(sorted(bb))}, candidate {shown(sorted(cb))}")
    for key in ("working_set", "fio_size_mib", "fio_runtime_s"):
        bv, cv = base.options.get(key), cand.options.get(key)
        if bv != cv:
            out.append(f"option {key} differs: baseline {shown(bv, 60)}, candidate {shown(cv, 60)}")
    if base.options.get("inventory") is None and cand.options.get("inventory") is None:
        bv, cv = base.options.get("nas"), cand.options.get("nas")
        if bv and cv and bv != cv:  # the virtual lab's NAS kind sets the throughput both stores get
            out.append(f"the virtual lab's NAS differs: baseline --nas {shown(bv, 60)}, candidate --nas "
                       f"{shown(cv, 60)}")  # fmt: skip
    bs, cs = set(base.options.get("suites") or ()), set(cand.options.get("suites") or ())
    if bs and cs and ("hog" not in bs or "hog" not in cs):
        out.append(f"the hog suite (the gated metrics) did not run in both: baseline {shown(sorted(bs, key=str))}, "
                   f"candidate {shown(sorted(cs, key=str))}")  # fmt: skip
    elif bs != cs and bs and cs:
        warn.append(f"suites differ: baseline {shown(sorted(bs, key=str))}, candidate {shown(sorted(cs, key=str))}: "
                    "only what both ran is compared")  # fmt: skip
    bmach, cmach = base.options.get("machine"), cand.options.get("machine")
    warn += [f"the machines differ: {line}: trial times are the machine's as much as the kernel's"
             for line in machine.differences(bmach, cmach)]  # fmt: skip
    if (line := machine.unrecorded(bmach, cmach)) is not None:
        warn.append(line)
    for name in sorted(set(bb) & set(cb)):
        (bc, bwhy), (cc, cwhy) = configured_memory(base, name), configured_memory(cand, name)
        bm = {t.mem_total_kib for t in bb[name].of(HogTrial) if t.mem_total_kib}
        cm = {t.mem_total_kib for t in cb[name].of(HogTrial) if t.mem_total_kib}
        bw = {t.mib for t in bb[name].of(HogTrial) if t.trial is not None and t.mib is not None}
        cw = {t.mib for t in cb[name].of(HogTrial) if t.trial is not None and t.mib is not None}
        cmp.context[name] = {"configured memory MiB": (bc, cc), "MemTotal KiB": (_one(bm), _one(cm)),
                             "working set MiB": (_one(bw), _one(cw))}  # fmt: skip
        mem = _spread("MemTotal", "KiB", bm, cm)
        if bc is not None and cc is not None:
            if bc != cc:
                out.append(f"{name}: configured memory differs: baseline {bc} MiB ({bwhy}), "
                           f"candidate {cc} MiB ({cwhy})")  # fmt: skip
            elif mem:
                warn.append(f"{name}: the kernels report different memory for the same {bc} MiB: {mem[0]}")
        else:
            sides = (("baseline", bc, bwhy), ("candidate", cc, cwhy))
            missing = "; ".join(f"{which}: {why}" for which, c, why in sides if c is None)
            if mem:
                out.append(f"{name}: configured memory unknown ({missing}), and {mem[0]}, beyond the "
                           f"{TOLERANCE_PCT:g}% that stands in for it: a different machine?")  # fmt: skip
            elif bm and cm:
                warn.append(f"{name}: configured memory unknown ({missing}): judged the same machine because "
                            f"MemTotal is within {TOLERANCE_PCT:g}%")  # fmt: skip
            else:
                warn.append(f"{name}: configured memory unknown ({missing}), and no MemTotal to stand in for it")
        ws = _spread("working set", "MiB", bw, cw)
        if ws and not any(d.startswith("option working_set") for d in out):
            warn.append(f"{name}: the same working-set rule ({shown(base.options.get('working_set'), 60)}) made "
                        f"{ws[0]}: the hog times carry that difference")  # fmt: skip


def _one(values: set[int]) -> int | None:
    """The value a run's trials agree on (the largest, should they not)."""
    return max(values) if values else None


def _sample_change(blade: str, metric: str, unit: str, base: list[float], cand: list[float],
                   higher_is_better: bool = False) -> Change | None:  # fmt: skip
    base, cand = [v for v in base if v > 0], [v for v in cand if v > 0]
    if not base or not cand:
        return None
    change, lo, hi = welch_log(base, cand)
    return Change(blade, metric, unit, higher_is_better, _gmean(base), _gmean(cand), len(base), len(cand), change,
                  lo, hi, gated=metric in GATED)  # fmt: skip


def _blade_changes(name: str, b: BladeResult, c: BladeResult) -> list[Change]:
    out: list[Change | None] = []
    for store in ("nfs", "nbd"):
        times = [[t.total_s for t in r.of(HogTrial) if t.trial is not None and t.store == store and t.total_s
                  and t.status == "done"]
                 for r in (b, c)]  # fmt: skip
        out.append(_sample_change(name, f"hog time {store.upper()}", "s", times[0], times[1]))
    ratios = [[v for r in x.of(RatioRecord) for v in r.per_pair] for x in (b, c)]
    out.append(_sample_change(name, "NFS/NBD ratio", "", ratios[0], ratios[1]))
    for under in (False, True):
        for store in ("nfs", "nbd"):
            jobs = [{j.job: j for f in x.of(FioRun) if f.store == store and f.under_pressure == under for j in f.jobs}
                    for x in (b, c)]  # fmt: skip
            where = f"{store.upper()}{' beside the hog' if under else ''}"
            for job in sorted(set(jobs[0]) & set(jobs[1])):
                bj, cj = jobs[0][job], jobs[1][job]
                out.append(_sample_change(name, f"fio {job} bandwidth {where}", "MiB/s", [bj.bw_mib_s], [cj.bw_mib_s],
                                          higher_is_better=True))  # fmt: skip
                if bj.p99_ms and cj.p99_ms:
                    out.append(_sample_change(name, f"fio {job} p99 {where}", "ms", [bj.p99_ms], [cj.p99_ms]))
    return [x for x in out if x is not None]


def _finding_kinds(b: BladeResult) -> Counter[tuple[str, str]]:
    """(kind, severity) -> how many distinct findings (a line seen in a load and in the whole run's log counts once)."""
    seen = {(f.kind, f.severity, f.text) for f in b.of(FindingRecord)}
    return Counter((k, s) for k, s, _ in seen)


def compare(base: RunResult, cand: RunResult, threshold_pct: float = 10.0) -> Comparison:
    cmp = Comparison(base.kernel.release, cand.kernel.release, threshold_pct)
    _comparability(base, cand, cmp)
    if not cmp.comparable:
        return cmp
    bb = {b.name: b for b in base.blades if b.name != "run"}
    cb = {b.name: b for b in cand.blades if b.name != "run"}
    for name in sorted(bb):
        changes = _blade_changes(name, bb[name], cb[name])
        cmp.changes += changes
        for ch in changes:
            if ch.gated and ch.worse and ch.change_pct > threshold_pct:
                cmp.gate_failures.append(
                    f"{name}: {ch.metric} is significantly worse: {ch.change_pct:+.1f}% "
                    f"(95% interval {ch.ci95_low_pct:+.1f}% to {ch.ci95_high_pct:+.1f}%), beyond {threshold_pct:g}%"
                )
        bk, ck = _finding_kinds(bb[name]), _finding_kinds(cb[name])
        kinds = sorted({k for k, _ in bk} | {k for k, _ in ck})
        cmp.findings[name] = {k: (sum(n for (kk, _), n in bk.items() if kk == k),
                                  sum(n for (kk, _), n in ck.items() if kk == k)) for k in kinds}  # fmt: skip
        for (kind, severity), n in sorted(ck.items()):
            if severity in ("fail", "warn") and not any(k == kind for k, _ in bk):
                cmp.gate_failures.append(f"{name}: {n} {shown(kind, 60)} finding(s) ({shown(severity, 20)}) the "
                                         "baseline did not have")  # fmt: skip
    missing = [name for name in bb if not any(c.blade == name and c.gated for c in cmp.changes)]
    for name in missing:
        cmp.unmeasured.append(f"{name}: no hog trials to compare in one of the runs (a run that failed?)")
    return cmp


def render_text(cmp: Comparison) -> str:
    """The comparison for a person. Every line is made visible on its own (``textsafe``): a kernel release, an
    option or a finding's kind read from a results.json cannot forge a line of swaplab's or move the cursor."""
    return "\n".join(visible(line, one_line=True) for line in _lines(cmp))


def _lines(cmp: Comparison) -> list[str]:
    lines = [f"baseline {shown(cmp.baseline, 80)} -> candidate {shown(cmp.candidate, 80)}"]
    for blade, labels in cmp.context.items():
        lines.append(f"{blade}: " + "; ".join(f"{label} {_show(b)} -> {_show(c)}" for label, (b, c) in labels.items()))
    lines += [f"warning: {w}" for w in cmp.warnings]
    if not cmp.comparable:
        lines.append("not comparable:")
        lines += [f"  {d}" for d in cmp.differences]
        return lines
    for ch in cmp.changes:
        ci = (f" [{ch.ci95_low_pct:+.1f}%, {ch.ci95_high_pct:+.1f}%]" if ch.ci95_low_pct is not None
              and ch.ci95_high_pct is not None else "")  # fmt: skip
        unit = f" {ch.unit}" if ch.unit else ""
        lines.append(f"{ch.blade}: {ch.metric}: {ch.baseline:.3g}{unit} -> {ch.candidate:.3g}{unit} "
                     f"({ch.change_pct:+.1f}%{ci}, n={ch.n_baseline}/{ch.n_candidate}): {ch.verdict()}"
                     + (" [gated]" if ch.gated else ""))  # fmt: skip
    for blade, kinds in cmp.findings.items():
        for kind, (b, c) in kinds.items():
            lines.append(f"{blade}: findings {shown(kind, 60)}: {b} -> {c}")
    if cmp.gate_failures:
        lines.append("significantly worse:")
        lines += [f"  {g}" for g in cmp.gate_failures]
    if cmp.unmeasured:
        lines.append("nothing to compare:")
        lines += [f"  {u}" for u in cmp.unmeasured]
    if not cmp.gate_failures and not cmp.unmeasured:
        lines.append(f"no significant regression beyond {cmp.threshold_pct:g}% on the gated metrics, "
                     "and no new kind of finding")  # fmt: skip
    return lines


def _show(value: object) -> str:
    return "?" if value is None else shown(value, 40)
