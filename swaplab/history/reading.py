"""What a verdict reads back from the history (a lab's nights, its series over them), checked as untrusted,
row by row."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from swaplab.textsafe import shown

from .facts import HistoryInputError
from .rows import (
    MetricValue,
    NightRef,
    SeriesData,
    SeriesName,
    row_int,
    row_name,
    row_num,
    row_opt,
    row_opt_num,
    row_samples,
    tampered,
)
from .schema import KINDS, MESSAGE_MAX, CaseRow, FindingRow, Kernel, MetricRow, Night, Series


def read_series(s: Session, lab: str, night_ids: list[int], metrics: Callable[[str], bool] | None) -> SeriesData:
    """Every series of ``lab`` over the given nights (of the metrics, those ``metrics`` keeps), checked row
    by row: a row of the wrong type or past its bounds is ``HistoryInputError``, naming it."""
    data = SeriesData()
    names = {
        r.id: (r.rack, r.blade, r.hw_class, r.kind, r.name)
        for r in s.execute(
            select(Series.id, Series.rack, Series.blade, Series.hw_class, Series.kind, Series.name).where(
                Series.lab == lab
            )
        )
    }
    for sid, (rack, blade, hw, kind, name) in names.items():
        if kind not in KINDS:
            raise tampered(f"series {sid}: kind {shown(str(kind), 20)!r}")
        data.names[sid] = SeriesName(
            row_name(rack, "series.rack"),
            row_name(blade, "series.blade"),
            row_name(hw, "series.hw_class"),
            kind,
            row_name(name, "series.name", 402),
        )
    for r in s.execute(
        select(CaseRow.night_id, CaseRow.series_id, CaseRow.outcome, CaseRow.rerun, CaseRow.message).where(
            CaseRow.night_id.in_(night_ids)
        )
    ):
        if (
            r.outcome not in ("pass", "failure", "error", "skipped")
            or r.rerun not in (None, "pass", "failure", "error", "skipped")
            or r.series_id not in data.names
        ):
            raise tampered(f"cases row (night {r.night_id}, series {r.series_id})")
        data.cases[(r.series_id, r.night_id)] = (
            r.outcome,
            r.rerun,
            row_opt(r.message, "cases.message", MESSAGE_MAX) or "",
        )
    for m in s.execute(
        select(
            MetricRow.night_id,
            MetricRow.series_id,
            MetricRow.value,
            MetricRow.ci95_low,
            MetricRow.ci95_high,
            MetricRow.samples,
        ).where(
            MetricRow.night_id.in_(night_ids),
            MetricRow.series_id.in_(
                [i for i, n in data.names.items() if n.kind == "metric" and (metrics is None or metrics(n.name))]
            ),
        )
    ):
        if m.series_id not in data.names:
            raise tampered(f"metrics row (night {m.night_id}, series {m.series_id})")
        data.metrics[(m.series_id, m.night_id)] = MetricValue(
            row_num(m.value, "metrics.value"),
            row_opt_num(m.ci95_low, "metrics.ci95_low"),
            row_opt_num(m.ci95_high, "metrics.ci95_high"),
            row_samples(m.samples),
        )
    for f in s.execute(
        select(FindingRow.night_id, FindingRow.series_id, FindingRow.count).where(FindingRow.night_id.in_(night_ids))
    ):
        if f.series_id not in data.names:
            raise tampered(f"findings row (night {f.night_id}, series {f.series_id})")
        data.findings[(f.series_id, f.night_id)] = row_int(f.count, "findings.count")
    return data


def night_ref(s: Session, n: Night) -> NightRef:
    """A night as the verdict reads it, its kernel with it, checked."""
    k = s.get(Kernel, n.kernel_id)
    if k is None:
        raise HistoryInputError(f"history: night {n.id} names kernel {n.kernel_id}, which is not there")
    seq, code = row_int(n.seq, "nights.seq"), row_int(n.exit_code, "nights.exit_code")
    return NightRef(
        id=row_int(n.id, "nights.id"),
        seq=seq,
        lab=row_name(n.lab, "nights.lab"),
        release=row_name(k.release, "kernels.release"),
        package_sha256=row_name(k.package_sha256, "kernels.package_sha256", 64),
        commit=row_opt(k.commit, "kernels.commit", 64),
        label=row_opt(n.label, "nights.label"),
        finished=row_name(n.finished, "nights.finished", 40),
        exit_code=code,
    )
