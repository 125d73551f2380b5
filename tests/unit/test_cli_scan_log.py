"""swaplab scan-log: exit codes, JSON shape, stdin."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from swaplab.cli import main

LOGS = Path(__file__).parent / "logs"


def test_fail_findings_exit_1_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan-log", "--json", str(LOGS / "qemu-6.1-faults.kmsg.log")]) == 1
    d = json.loads(capsys.readouterr().out)
    assert set(d) >= {"findings", "summary", "inputs"}
    assert set(d["findings"][0]) == {"kind", "severity", "source", "line", "text", "fields"}
    assert d["summary"]["by_kind"]["oom_kill"] == 1
    assert d["inputs"][0]["format"] == "kmsg"


def test_clean_log_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "clean.log"
    # Only info and warn findings: a swapon and an NFS hiccup that recovered.
    log.write_text(
        "[ 1.0] Adding 1048572k swap on /mnt/nfsswap/swapfile.  Priority:-2 extents:1 across:1048572k FS\n"
        "[ 2.0] nfs: server 10.0.0.1 not responding, still trying\n"
        "[ 9.0] nfs: server 10.0.0.1 OK\n"
    )
    assert main(["scan-log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "0 fail, 1 warn, 2 info" in out


def test_unreadable_input_exit_2_names_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan-log", str(tmp_path / "a"), str(LOGS / "bugreports.dmesg.log"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "/a:" in err and "/b:" in err


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = b"[ 1.0] INFO: task kworker/u2:1:42 blocked for more than 120 seconds.\n"

    class In:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", In)
    assert main(["scan-log", "--json", "-"]) == 1
    (f,) = json.loads(capsys.readouterr().out)["findings"]
    assert f["fields"] == {"comm": "kworker/u2:1", "pid": 42, "seconds": 120, "timestamp": 1.0}


def test_console_script_entry_point() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "swaplab", "scan-log", str(LOGS / "bugreports.syslog.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 1
    assert "hard_lockup" in r.stdout
