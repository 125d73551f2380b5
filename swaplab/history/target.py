"""Which history: ``--history`` or ``SWAPLAB_HISTORY``, a SQLite file's path or a PostgreSQL URL, checked
before any connection is made. The password only from ``SWAPLAB_HISTORY_PASSWORD`` (or libpq's own),
never from a URL; a SQLite path reached through no link, a regular file that is a SQLite database."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from swaplab import errors
from swaplab.atomic import too_long
from swaplab.textsafe import shown

from .facts import HistoryInputError

HISTORY_ENV = "SWAPLAB_HISTORY"
PASSWORD_ENV = "SWAPLAB_HISTORY_PASSWORD"  # noqa: S105 - the variable's name
SQLITE_MAGIC = b"SQLite format 3\x00"


class HistoryUnavailable(errors.Infrastructure):
    """The history's database did not answer or refused: the run's own result stands."""


@dataclass(frozen=True)
class Target:
    url: URL
    shown: str  # for messages: no password, ever

    @property
    def sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def target(given: str | None) -> Target:
    """The history named by ``--history`` or ``SWAPLAB_HISTORY``: a SQLite file's path or a PostgreSQL URL.
    ``HistoryInputError`` for anything else, before any connection is made."""
    value = given or os.environ.get(HISTORY_ENV, "")
    if not value:
        raise HistoryInputError(f"no history given: pass --history PATH|URL or set {HISTORY_ENV}")
    if "://" in value:
        try:
            url = make_url(value)
        except ArgumentError:
            raise HistoryInputError(f"--history: {shown(value.split('@')[-1], 120)} is not a database URL") from None
        if url.get_backend_name() != "postgresql":
            raise HistoryInputError(
                f"--history: {url.get_backend_name()!r} URLs are not supported: give a SQLite "
                "file's path or a postgresql:// URL"
            )
        if url.password is not None:
            raise HistoryInputError(
                f"--history: the URL carries a password: remove it from the URL and put it in "
                f"{PASSWORD_ENV} (a URL ends up in logs and process lists)"
            )
        url = url.set(drivername="postgresql+psycopg")
        if password := os.environ.get(PASSWORD_ENV):
            url = url.set(password=password)
        return Target(url, url.render_as_string(hide_password=True))
    return Target(URL.create("sqlite", database=str(_sqlite_path(value))), value)


def _sqlite_path(value: str) -> Path:
    """The SQLite file: reached through no link (its own name or a directory's), a regular file if it
    exists, in a directory that exists."""
    if too_long(value):
        raise HistoryInputError(f"--history {shown(value, 80)}: a path too long for a file system")
    path = Path(os.path.abspath(value))
    if os.path.realpath(path) != str(path):
        raise HistoryInputError(
            f"--history {shown(value, 120)}: the path goes through a symbolic link: give the "
            "file's real path (a link could point the history at another file)"
        )
    if not path.parent.is_dir():
        raise HistoryInputError(f"--history {shown(value, 120)}: its directory does not exist: create it first")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(st.st_mode):
        raise HistoryInputError(f"--history {shown(value, 120)}: not a regular file")
    if st.st_size:
        with open(path, "rb") as f:
            if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                raise HistoryInputError(
                    f"--history {shown(value, 120)}: not a SQLite database (not a history "
                    "swaplab wrote): give another path"
                )
    return path


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
