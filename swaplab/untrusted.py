"""Reading what a run directory holds: untrusted input (Jenkins copies run directories between builds).

``read_inside(base, rel, cap)``: a file named relative to the run directory, read only if it is a
regular file inside it (no absolute name, no ``..``, no link leading out, not a FIFO or a device),
at most ``cap`` bytes; anything else is ``UnsafeFile`` with one line naming the file and the problem.
``json_strict`` parses JSON without NaN or Infinity and with a bounded nesting depth. Pure but for
the one bounded read.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

MAX_JSON_DEPTH = 64


class UnsafeFile(ValueError):
    pass


def path_inside(base: Path, rel: str | Path) -> Path:
    """``base / rel`` if ``rel`` names something inside ``base`` (no absolute name, no ``..``, no link leading
    out); else ``UnsafeFile``."""
    rel = Path(rel)
    path = base / rel
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UnsafeFile(f"{rel}: not a name inside the run directory")
    root = os.path.realpath(base)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise UnsafeFile(f"{path}: leads outside the run directory")
    return path


def read_inside(base: Path, rel: str | Path, cap: int) -> bytes:
    path = path_inside(base, rel)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise UnsafeFile(f"{path}: cannot read it: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path}: not a regular file")
        if st.st_size > cap:
            raise UnsafeFile(f"{path}: {st.st_size} bytes, more than the {cap} it may have")
        chunks, total = [], 0
        while total <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:
            raise UnsafeFile(f"{path}: grew past the {cap} bytes it may have while it was read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(value: Any, limit: int) -> None:
    """ValueError if ``value`` is nested deeper than ``limit``, or holds a number that is not finite or an
    integer past ``MAX_INT``."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            raise ValueError(f"nested deeper than {limit}")
        if isinstance(v, float):
            if not math.isfinite(v):  # 1e999: a literal that overflows to infinity
                raise ValueError("a number too large to be finite")
        elif isinstance(v, int):
            if not -MAX_INT < v < MAX_INT:
                raise ValueError(f"an integer of {len(str(abs(v)))} digits: past {MAX_INT}")
        elif isinstance(v, dict):
            stack += [(x, d + 1) for x in v.values()]
        elif isinstance(v, list):
            stack += [(x, d + 1) for x in v]


# An integer past this is no count, size or time swaplab writes.
MAX_INT = 1 << 63


def json_strict(data: bytes | str) -> Any:
    """JSON as RFC 8259 has it (no NaN, no Infinity), at most ``MAX_JSON_DEPTH`` deep, every number finite (no
    ``1e999``) and every integer within ``MAX_INT``; ValueError if not."""
    try:
        doc = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH}") from None
    _depth(doc, MAX_JSON_DEPTH)
    return doc
