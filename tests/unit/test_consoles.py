"""The file console: a mark is a position, since(mark) what came after it, bounded; follow yields lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplab.drivers import fileconsole
from swaplab.drivers.fileconsole import FileConsole


def test_mark_and_since(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    console = FileConsole(str(log))
    assert console.mark() == 0 and console.since(0) == b""  # no file yet: an empty stream
    log.write_bytes(b"[    1.0] booting\r\n")
    mark = console.mark()
    with log.open("ab") as f:
        f.write(b"[   42.0] Kernel panic - not syncing: x\r\n")
    assert console.since(mark) == b"[   42.0] Kernel panic - not syncing: x\r\n"
    lines = list(console.follow(0.3, mark=0))
    assert lines == ["[    1.0] booting", "[   42.0] Kernel panic - not syncing: x"]


def test_since_is_bounded_to_the_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileconsole, "MAX_SLICE_BYTES", 100)
    log = tmp_path / "console.log"
    log.write_bytes(b"x" * 1000 + b"END")
    assert FileConsole(str(log)).since(0) == b"x" * 97 + b"END"
