"""Opening a history and writing a night into it; reading bounded series back.

A history is one SQLite file (WAL) by default, or a PostgreSQL URL for a lab whose racks and controllers
share one (psycopg 3). The target comes from ``--history`` or ``SWAPLAB_HISTORY``; a PostgreSQL password
only from ``SWAPLAB_HISTORY_PASSWORD`` (or libpq's own ``PGPASSWORD``/``.pgpass``), never from a URL, a
command line or an output. Every open brings the schema to the newest Alembic revision, under a lock,
so two controllers starting at once migrate it once.

Everything read back is checked as untrusted (a history file can be copied between agents like a run
directory): a row of the wrong type or past its bounds is ``HistoryInputError``, naming the row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from swaplab.textsafe import shown

from .facts import HistoryInputError, NightFacts
from .reading import night_ref, read_series
from .rows import (
    MetricValue,
    NightRef,
    SeriesData,
    SeriesName,
    row_name,
)
from .schema import (
    MESSAGE_MAX,
    SAMPLES_MAX,
    Baseline,
    CaseRow,
    FindingRow,
    Kernel,
    MetricRow,
    Night,
    Series,
    VerdictRow,
)
from .target import HISTORY_ENV, PASSWORD_ENV, HistoryUnavailable, Target, _sqlite_pragmas, target

__all__ = ["HISTORY_ENV", "PASSWORD_ENV", "History", "HistoryUnavailable", "MetricValue", "NightRef",
           "SeriesData", "SeriesName", "Target", "target"]  # fmt: skip

MIGRATIONS = Path(__file__).with_name("migrations")
WINDOW = 120  # nights a verdict reads back: a year of history costs a verdict no more than four months'
MAX_NIGHTS_SHOWN = 1000  # the most nights `trend` and `show` print
MIGRATION_LOCK = 0x5357_4150  # PostgreSQL advisory lock key: "SWAP"


class History:
    """An open history: ``ingest`` a night, read series back, pin baselines."""

    def __init__(self, t: Target) -> None:
        self.target = t
        if t.sqlite:
            self.engine: Engine = create_engine(t.url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(t.url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        self._migrate()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the schema ------------------------------------------------------------------------------
    def _migrate(self, revision: str = "head") -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._errors("bring the history's schema up to date"), self.engine.begin() as conn:
            self._lock(conn, MIGRATION_LOCK)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def _lock(self, conn: Any, key: int) -> None:
        """One writer at a time, from the transaction's start: SQLite's write lock, PostgreSQL's advisory lock
        (two racks ingesting at once each get their own seq; two controllers migrate the schema once)."""
        if self.target.sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def revision(self) -> str | None:
        with self._errors("read the schema's revision"), self.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """A database's refusal as one line naming the history (never its password) and the fix."""
        try:
            yield
        except IntegrityError:
            raise
        except (DBAPIError, SQLAlchemyError, OSError) as e:
            orig = getattr(e, "orig", None) or e
            why = shown(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__, 200)
            password = self.target.url.password
            if password:
                why = why.replace(str(password), "***")
            raise HistoryUnavailable(
                f"history {self.target.shown}: could not {doing}: {why}: check the URL, the server and {PASSWORD_ENV}"
            ) from None

    # -- writing -------------------------------------------------------------------------------------
    def ingest(self, night: NightFacts) -> tuple[int, bool]:
        """Store a night; (its id, whether it was new). The same run again is the same night, stored once."""
        for attempt in range(5):
            try:
                with self._errors("store the night"), Session(self.engine) as s, s.begin():
                    self._lock(s.connection(), MIGRATION_LOCK + 1)
                    return self._ingest(s, night)
            except IntegrityError:
                if attempt == 4:
                    raise HistoryUnavailable(
                        f"history {self.target.shown}: another writer kept taking the same night's place: try again"
                    ) from None
        raise AssertionError("unreachable")

    def _ingest(self, s: Session, night: NightFacts) -> tuple[int, bool]:
        key = night.run_key
        if (found := s.scalar(select(Night.id).where(Night.run_key == key))) is not None:
            return found, False
        kernel = s.scalar(select(Kernel).where(Kernel.package_sha256 == night.package_sha256))
        if kernel is None:
            kernel = Kernel(
                package_sha256=night.package_sha256,
                release=night.release,
                config_sha256=night.config_sha256,
                commit=night.commit,
            )
            s.add(kernel)
            s.flush()
        else:
            if kernel.release != night.release:
                raise HistoryInputError(
                    f"the run's kernel {shown(night.release, 80)} has the package sha256 "
                    f"{night.package_sha256[:12]} the history knows as "
                    f"{shown(kernel.release, 80)}: the run claims another kernel's identity"
                )
            if night.commit and kernel.commit and kernel.commit != night.commit:
                raise HistoryInputError(
                    f"--kernel-commit {shown(night.commit, 64)}: the history has kernel "
                    f"{shown(kernel.release, 80)} as commit {shown(kernel.commit, 64)}"
                )
            if night.commit and not kernel.commit:
                kernel.commit = night.commit
        seq = (s.scalar(select(func.max(Night.seq)).where(Night.lab == night.lab)) or 0) + 1
        row = Night(
            run_key=key,
            lab=night.lab,
            seq=seq,
            kernel_id=kernel.id,
            label=night.label,
            finished=night.finished,
            exit_code=night.exit_code,
        )
        s.add(row)
        s.flush()
        wanted: dict[tuple[str, str, str, str], str] = {}
        for b in night.blades:
            for c in b.cases:
                wanted[(b.rack, b.name, "case", f"{c.suite}::{c.name}")] = b.hw_class
            for m in b.metrics:
                wanted[(b.rack, b.name, "metric", m.name)] = b.hw_class
            for kind, severity in b.findings:
                wanted[(b.rack, b.name, "finding", f"{kind}/{severity}")] = b.hw_class
        ids = self._series_ids(s, night.lab, wanted)
        cases, metrics, findings = [], [], []
        for b in night.blades:
            for c in b.cases:
                cases.append(
                    {
                        "night_id": row.id,
                        "series_id": ids[(b.rack, b.name, "case", f"{c.suite}::{c.name}")],
                        "outcome": c.outcome,
                        "rerun": c.rerun,
                        "message": None if c.outcome == "pass" else c.message[:MESSAGE_MAX],
                    }
                )
            for m in b.metrics:
                metrics.append(
                    {
                        "night_id": row.id,
                        "series_id": ids[(b.rack, b.name, "metric", m.name)],
                        "value": m.value,
                        "ci95_low": m.ci95_low,
                        "ci95_high": m.ci95_high,
                        "samples": json.dumps([round(v, 6) for v in m.samples[:SAMPLES_MAX]]),
                    }
                )
            for (kind, severity), n in b.findings.items():
                findings.append(
                    {
                        "night_id": row.id,
                        "series_id": ids[(b.rack, b.name, "finding", f"{kind}/{severity}")],
                        "count": n,
                    }
                )
        for table, rows in ((CaseRow, cases), (MetricRow, metrics), (FindingRow, findings)):
            # one row per series and night: a run that names a case twice keeps its last
            unique = list({r["series_id"]: r for r in rows}.values())
            if unique:
                s.execute(insert(table), unique)
        return row.id, True

    def _series_ids(self, s: Session, lab: str, wanted: dict[tuple[str, str, str, str], str]) -> dict[Any, int]:
        have = {
            (r.rack, r.blade, r.kind, r.name): r.id
            for r in s.execute(
                select(Series.rack, Series.blade, Series.kind, Series.name, Series.id).where(Series.lab == lab)
            )
        }
        new = [
            {"lab": lab, "rack": k[0], "blade": k[1], "kind": k[2], "name": k[3], "hw_class": hw}
            for k, hw in wanted.items()
            if k not in have
        ]
        if new:
            s.execute(insert(Series), new)
            have = {
                (r.rack, r.blade, r.kind, r.name): r.id
                for r in s.execute(
                    select(Series.rack, Series.blade, Series.kind, Series.name, Series.id).where(Series.lab == lab)
                )
            }
        return have

    def pin(self, lab: str, name: str, seq: int | None) -> NightRef:
        """Pin the baseline ``name`` (``release``) to a night of ``lab``: ``seq``, or the latest."""
        with self._errors("pin the baseline"), Session(self.engine) as s, s.begin():
            q = select(Night).where(Night.lab == lab)
            q = q.where(Night.seq == seq) if seq is not None else q.order_by(Night.seq.desc()).limit(1)
            night = s.scalar(q)
            if night is None:
                raise HistoryInputError(
                    f"lab {shown(lab, 80)} has no night {seq if seq is not None else ''}: see `swaplab history show`"
                )
            s.merge(Baseline(lab=lab, name=name, night_id=night.id))
            return night_ref(s, night)

    def save_verdict(self, night_id: int, digest: str, body: str) -> None:
        with self._errors("store the verdict"), Session(self.engine) as s, s.begin():
            s.merge(VerdictRow(night_id=night_id, digest=digest, body=body))

    # -- reading ---------------------------------------------------------------------------------
    def labs(self) -> list[str]:
        with self._errors("read the labs"), Session(self.engine) as s:
            return [row_name(x, "nights.lab") for x in s.scalars(select(Night.lab).distinct().order_by(Night.lab))]

    def nights(self, lab: str, last: int = WINDOW, upto_seq: int | None = None) -> list[NightRef]:
        """The lab's last ``last`` nights (up to ``upto_seq``), oldest first."""
        if not 0 < last <= MAX_NIGHTS_SHOWN:
            raise HistoryInputError(f"--nights {last}: give 1 to {MAX_NIGHTS_SHOWN}")
        with self._errors("read the nights"), Session(self.engine) as s:
            q = select(Night).where(Night.lab == lab)
            if upto_seq is not None:
                q = q.where(Night.seq <= upto_seq)
            rows = list(s.scalars(q.order_by(Night.seq.desc()).limit(last)))
            return [night_ref(s, n) for n in reversed(rows)]

    def baseline(self, lab: str, name: str = "release") -> NightRef | None:
        with self._errors("read the baseline"), Session(self.engine) as s:
            b = s.get(Baseline, (lab, name))
            night = s.get(Night, b.night_id) if b is not None else None
            return night_ref(s, night) if night is not None else None

    def verdict_of(self, night_id: int) -> tuple[str, str] | None:
        with self._errors("read a verdict"), Session(self.engine) as s:
            v = s.get(VerdictRow, night_id)
            return (
                (row_name(v.digest, "verdicts.digest", 64), row_name(v.body, "verdicts.body", 4 << 20)) if v else None
            )

    def series(self, lab: str, night_ids: list[int], metrics: Callable[[str], bool] | None = None) -> SeriesData:
        """Every series of ``lab`` over the given nights (of the metrics, those ``metrics`` keeps), checked row
        by row."""
        if not night_ids:
            return SeriesData()
        with self._errors("read the series"), Session(self.engine) as s:
            return read_series(s, lab, night_ids, metrics)
