"""Write a file whole or not at all, never through a link: a temporary file beside it, then rename.

A run directory is untrusted (Jenkins copies them between builds): a ``junit.xml`` planted there as a
symlink must not make swaplab write where it points. ``os.replace`` renames over the link itself, and
the temporary file is created with ``O_EXCL`` (``mkstemp``), so no write follows a link. A reader
never sees a half-written output, and a crash leaves the previous one.

``output_problem`` checks a path the operator names for an output (``compare --html``, ``merge -o``) before
any work: a link, a device, a FIFO, a directory where a file goes (or a file where a directory goes), a
place under a file, or a place inside an input's tree is refused, so that an output is created and never
written through, over a device node or into what it reads.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from swaplab.textsafe import shown


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


def too_long(path: str | Path) -> bool:
    """Whether ``path`` is longer than a file system takes (4000 bytes in all, or a name over 255): checked
    before it is handed to one, where it would be an OSError."""
    raw = os.fsencode(path)
    return len(raw) > 4000 or any(len(part) > 255 for part in raw.split(b"/"))


def output_problem(path: Path, directory: bool, inputs: Sequence[Path] = ()) -> str | None:
    """Why ``path`` cannot be an output (``directory``: one to create, or an empty one), or None. Checked
    before any work, so that a refusal costs nothing."""
    where = shown(path)
    try:
        if too_long(path):
            return f"{where}: a path too long for a file system"
        if path.is_symlink():
            return f"{where} is a symbolic link: swaplab writes no output through one; name a new path"
        if path.exists():
            mode = os.stat(path).st_mode
            if directory and not stat.S_ISDIR(mode):
                return f"{where} exists and is not a directory: name a new one"
            if directory and any(path.iterdir()):
                return f"{where} exists and is not an empty directory: name a new one"
            if not directory and stat.S_ISDIR(mode):
                return f"{where} is a directory: name a file in it"
            if not directory and not stat.S_ISREG(mode):
                return f"{where} is not a regular file (a device, a FIFO or a socket): name a new file"
        ancestor = path.parent
        while not ancestor.exists() and not ancestor.is_symlink() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return f"{where}: {shown(ancestor)} is not a directory (a file, or a dangling link)"
        if not directory and ancestor != path.parent:
            return f"{where}: its directory {shown(path.parent)} does not exist: create it or name a file in one"
    except OSError as e:
        return f"{where}: cannot be looked at ({e.strerror or e})"
    real = os.path.realpath(path)
    for src in inputs:
        inp = os.path.realpath(src)
        if os.path.commonpath([real, inp]) in (real, inp):
            return f"{where} is inside, or holds, the input {shown(src)}: name a place outside every input"
    return None
