"""The blade-side sampler's heartbeat: its own thread, so a sample or a write that waits does not stop it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from swaplab.agent import sampler


def test_the_heartbeat_goes_on_while_a_sample_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beats: list[tuple[int, float]] = []
    monkeypatch.setattr(sampler, "heartbeat", lambda seq: beats.append((seq, time.monotonic())))
    real, calls = sampler.sample, []

    def slow_sample() -> list[str]:
        calls.append(time.monotonic())
        if len(calls) == 2:
            time.sleep(1.0)  # a read or a write stuck on the NFS root under swap
        return real()

    monkeypatch.setattr(sampler, "sample", slow_sample)
    out = tmp_path / "samples.csv"
    # --no-pin: this is the controller; pinning is tested with the shipped hog (test_hog).
    assert sampler.main(["--out", str(out), "--interval", "0.05", "--max-samples", "4", "--heartbeat", "2",
                         "--no-pin"]) == 0  # fmt: skip
    stuck_from, stuck_to = calls[1], calls[1] + 1.0
    during = [seq for seq, at in beats if stuck_from < at < stuck_to]
    assert len(during) >= 5, beats  # every 0.1 s while the sample waited
    assert [seq for seq, _ in beats] == list(range(len(beats)))
    assert len(out.read_text().splitlines()) == 5  # the header and four samples
