"""Every golden log gives exactly its expected findings (SWAPLAB_REGEN_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from swaplab.detect import Detector, scan_path
from swaplab.detect.lines import sniff_format

LOGS = Path(__file__).parent / "logs"
GOLDEN = sorted(LOGS.glob("*.log"))


def _expected_path(log: Path) -> Path:
    return log.with_name(log.name[: -len(".log")] + ".expected.json")


def _findings(log: Path) -> list[dict[str, object]]:
    result = scan_path(str(log))
    return [dict(f.to_dict(), source=log.name) for f in result.findings]


def test_there_are_golden_logs() -> None:
    assert len(GOLDEN) >= 8


@pytest.mark.parametrize("log", GOLDEN, ids=lambda p: p.name)
def test_golden(log: Path) -> None:
    got = _findings(log)
    expected_file = _expected_path(log)
    if os.environ.get("SWAPLAB_REGEN_GOLDEN"):
        expected_file.write_text(json.dumps(got, indent=1) + "\n", "utf-8")
    assert expected_file.exists(), f"no {expected_file.name}: run with SWAPLAB_REGEN_GOLDEN=1 and review it"
    assert got == json.loads(expected_file.read_text("utf-8"))


@pytest.mark.parametrize("log", GOLDEN, ids=lambda p: p.name)
def test_fast_scan_equals_line_by_line_feed(log: Path) -> None:
    """The prefiltered file scanner and the live line-by-line path agree exactly."""
    raw = log.read_bytes().decode("utf-8", "replace")
    lines = raw.split("\n")
    det = Detector(log.name, sniff_format(lines[:50]))
    for line in lines:
        det.feed(line)
    live = [dict(f.to_dict(), source=log.name) for f in det.findings]
    assert live == _findings(log)


@pytest.mark.parametrize(
    "log", [p for p in GOLDEN if "console" in p.name or "bugreports" in p.name], ids=lambda p: p.name
)
def test_parallel_scan_equals_sequential(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks force many chunk boundaries: the parallel path must not notice."""
    from swaplab.detect import scan

    monkeypatch.setattr(scan, "CHUNK_BYTES", 1000)
    par = scan.scan_file_parallel(str(log))
    with log.open("rb") as f:
        seq = scan.scan_stream(f, str(log))
    assert par.lines == seq.lines
    assert [f.to_dict() for f in par.findings] == [f.to_dict() for f in seq.findings]
