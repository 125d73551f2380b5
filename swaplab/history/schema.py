"""The history's tables. A change here is a new Alembic revision in ``migrations/versions``: a lab's history
outlives swaplab's versions (a lab that loses its results database on an upgrade stops trusting it).

A *night* is one ingested run: its kernel, its lab, its place in the lab's order (``seq``: the order runs
were ingested in). A *series* is one thing measured night after night on one blade: a case
(``suite::name``), a metric (``ratio``, ``hog.nfs.s``, ...) or a finding kind. Each night holds one row
per series it measured: the names live once, in ``series``, so a year of a 100-blade rack stays small.
``verdicts`` keeps each night's verdict, so a notification goes out only when tonight's differs.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Bounds on what a row may hold; ingest cuts or refuses past them, and reading back checks them again.
NAME_MAX = 200
MESSAGE_MAX = 500
SAMPLES_MAX = 64  # a night's samples of one metric (trial pairs, trials): --max-trials is at most 50
KINDS = ("case", "metric", "finding")


class Base(DeclarativeBase):
    pass


class Kernel(Base):
    """A kernel under test, by its package's sha256: a release string alone is not an identity."""

    __tablename__ = "kernels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    release: Mapped[str] = mapped_column(String(NAME_MAX))
    config_sha256: Mapped[str | None] = mapped_column(String(64))
    commit: Mapped[str | None] = mapped_column(String(64))


class Night(Base):
    __tablename__ = "nights"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(64), unique=True)  # the same run ingested twice is stored once
    lab: Mapped[str] = mapped_column(String(NAME_MAX))
    seq: Mapped[int] = mapped_column(Integer)
    kernel_id: Mapped[int] = mapped_column(ForeignKey("kernels.id"))
    label: Mapped[str | None] = mapped_column(String(NAME_MAX))
    finished: Mapped[str] = mapped_column(String(40))
    exit_code: Mapped[int] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("lab", "seq", name="uq_nights_lab_seq"),)


class Series(Base):
    __tablename__ = "series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab: Mapped[str] = mapped_column(String(NAME_MAX))
    rack: Mapped[str] = mapped_column(String(NAME_MAX))
    blade: Mapped[str] = mapped_column(String(NAME_MAX))
    hw_class: Mapped[str] = mapped_column(String(NAME_MAX))
    kind: Mapped[str] = mapped_column(String(10))  # KINDS
    name: Mapped[str] = mapped_column(String(2 * NAME_MAX + 2))
    __table_args__ = (UniqueConstraint("lab", "rack", "blade", "kind", "name", name="uq_series"),)


class CaseRow(Base):
    __tablename__ = "cases"
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(10))  # pass, failure, error, skipped
    rerun: Mapped[str | None] = mapped_column(String(10))  # the confirming rerun's outcome (added in 0002)
    message: Mapped[str | None] = mapped_column(Text)  # kept for what did not pass
    __table_args__ = (Index("ix_cases_series", "series_id", "night_id"),)


class FindingRow(Base):
    __tablename__ = "findings"
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class MetricRow(Base):
    __tablename__ = "metrics"
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    ci95_low: Mapped[float | None] = mapped_column(Float)
    ci95_high: Mapped[float | None] = mapped_column(Float)
    samples: Mapped[str] = mapped_column(Text)  # a JSON list of at most SAMPLES_MAX finite numbers
    __table_args__ = (Index("ix_metrics_series", "series_id", "night_id"),)


class Baseline(Base):
    """A pinned baseline (``release``): the night a release was signed off on."""

    __tablename__ = "baselines"
    lab: Mapped[str] = mapped_column(String(NAME_MAX), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), primary_key=True)
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id"))


class VerdictRow(Base):
    """Each night's verdict (added in 0002)."""

    __tablename__ = "verdicts"
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # what changed, in short: equal digests notify nothing
    body: Mapped[str] = mapped_column(Text)
