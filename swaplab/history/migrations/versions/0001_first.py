"""The first schema of the history (swaplab 0.2.0's first cut): kernels, nights, series, and per night the
cases, findings and metrics, with pinned baselines."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kernels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("package_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("release", sa.String(200), nullable=False),
        sa.Column("config_sha256", sa.String(64)),
        sa.Column("commit", sa.String(64)),
    )
    op.create_table(
        "nights",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_key", sa.String(64), nullable=False, unique=True),
        sa.Column("lab", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kernel_id", sa.Integer, sa.ForeignKey("kernels.id"), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("finished", sa.String(40), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
        sa.UniqueConstraint("lab", "seq", name="uq_nights_lab_seq"),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lab", sa.String(200), nullable=False),
        sa.Column("rack", sa.String(200), nullable=False),
        sa.Column("blade", sa.String(200), nullable=False),
        sa.Column("hw_class", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("name", sa.String(402), nullable=False),
        sa.UniqueConstraint("lab", "rack", "blade", "kind", "name", name="uq_series"),
    )
    op.create_table(
        "cases",
        sa.Column("night_id", sa.Integer, sa.ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), primary_key=True),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_cases_series", "cases", ["series_id", "night_id"])
    op.create_table(
        "findings",
        sa.Column("night_id", sa.Integer, sa.ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "metrics",
        sa.Column("night_id", sa.Integer, sa.ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("ci95_low", sa.Float),
        sa.Column("ci95_high", sa.Float),
        sa.Column("samples", sa.Text, nullable=False),
    )
    op.create_index("ix_metrics_series", "metrics", ["series_id", "night_id"])
    op.create_table(
        "baselines",
        sa.Column("lab", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("night_id", sa.Integer, sa.ForeignKey("nights.id"), nullable=False),
    )


def downgrade() -> None:
    for table in ("baselines", "metrics", "findings", "cases", "series", "nights", "kernels"):
        op.drop_table(table)
