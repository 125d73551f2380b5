"""A case's confirming rerun, and each night's verdict (so a notification goes out only on change)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("rerun", sa.String(10)))
    op.create_table(
        "verdicts",
        sa.Column("night_id", sa.Integer, sa.ForeignKey("nights.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("verdicts")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("rerun")
