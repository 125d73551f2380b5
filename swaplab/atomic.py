"""Write a file whole or not at all, never through a link: a temporary file beside it, then rename.

A run directory is untrusted (Jenkins copies them between builds): a ``junit.xml`` planted there as a
symlink must not make swaplab write where it points. ``os.replace`` renames over the link itself, and
the temporary file is created with ``O_EXCL`` (``mkstemp``), so no write follows a link. A reader
never sees a half-written output, and a crash leaves the previous one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """UTF-8; a character no encoder takes (a lone surrogate) is written as its escape, not raised."""
    write_bytes(path, text.encode("utf-8", "backslashreplace"), mode)
