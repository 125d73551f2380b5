"""Alembic's environment for the history: migrations run on the connection swaplab hands over (never a URL
from a file), inside swaplab's own transaction."""

from __future__ import annotations

from alembic import context

from swaplab.history.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
