"""The history of runs between nights: a store (SQLite by default, PostgreSQL for a shared lab), what it
keeps of each run, and the verdict on what changed since last night and since the pinned release.

- ``schema``: the tables (SQLAlchemy 2), migrated by Alembic (``migrations/``);
- ``store``: opening a history safely, ingesting a run idempotently, reading bounded series back;
- ``facts``: what one run directory's results.json gives a night (pure);
- ``changepoint``: the metric detector (a windowed test of each night against its own interval, pure);
- ``verdict``: per case and per metric, the change since the last good night and the release (pure);
- ``known``: the known-issues file kept beside an inventory;
- ``notify``: Apprise notifications, sent only when the verdict differs from last night's.
"""
