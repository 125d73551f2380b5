"""bench/heartbeat_gaps.py on a real blade console (captured on the virtual lab): each load's sampler is a
sequence of its own (its count starts again), and a silence inside one is its longest gap."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "tests" / "unit" / "logs" / "lab-6.1-blade-userspace-faults.console.log"


def test_the_gaps_of_a_real_console_and_of_a_planted_stall(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import heartbeat_gaps

    rows = heartbeat_gaps.gaps([LOG])
    assert [(r["heartbeats"], r["longest_gap_s"]) for r in rows] == [(5, 5.0), (4, 5.0)]
    # The same console, its second sampler silent for minutes after its first beat: that gap is found.
    lines = LOG.read_bytes().splitlines(keepends=True)
    beats = [i for i, line in enumerate(lines) if b"swaplab: heartbeat" in line]
    cut = beats[6]
    stalled = b"".join([*lines[:cut], b"[  999.000000] swaplab: heartbeat 2\n"])
    (tmp_path / "console.log").write_bytes(stalled)
    assert max(r["longest_gap_s"] for r in heartbeat_gaps.gaps([tmp_path])) > 40  # type: ignore[type-var]
