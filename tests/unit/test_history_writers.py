"""The history's SQLite file under its real hazards: two controllers ingesting at once (two racks' jobs on one
file), and a controller killed (SIGKILL) in the middle of storing a night. Nothing is lost, nothing is
stored twice, and the file stays a database the next night opens. Real processes, a real file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from swaplab.history.store import History, target

RUNS = Path(__file__).parent / "data" / "runs"


def _ingest(db: Path, lab: str, *runs: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "swaplab", "history", "ingest", *(str(RUNS / r) for r in runs), "--history",
            str(db), "--lab", lab]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _nights(db: Path, lab: str) -> list[tuple[int, str]]:
    with History(target(str(db))) as h:
        return [(n.seq, n.release) for n in h.nights(lab, last=100)]


def test_two_controllers_ingesting_at_once_both_keep_every_night(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    a = _ingest(db, "rack-a", "kernel-6.1-a", "kernel-6.1-b", "kernel-5.10")
    b = _ingest(db, "rack-b", "kernel-6.1-b", "kernel-5.10", "kernel-6.1-c")
    for p in (a, b):
        _, err = p.communicate(timeout=300)
        assert p.returncode in (0, 1), err[-2000:]  # 1: the 5.10 night is a regression, as it should be
    assert [r for _, r in _nights(db, "rack-a")] == ["6.1.0-57-amd64", "6.1.0-57-amd64", "5.10.0-46-amd64"]
    assert [s for s, _ in _nights(db, "rack-a")] == [1, 2, 3]
    assert [s for s, _ in _nights(db, "rack-b")] == [1, 2, 3]
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)


# A controller that stops in the middle of storing a night: its rows written, not yet committed. The real
# ingest, held there (the night's rows flushed inside its transaction) until the test kills it.
HELD = """
import sys, time
from swaplab import cli
from swaplab.history import store
real = store.History._ingest
def held(self, s, night):
    out = real(self, s, night)
    s.flush()
    print("inside", flush=True)
    time.sleep(600)
    return out
store.History._ingest = held
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_controller_killed_while_storing_a_night_loses_nothing_stored_before(tmp_path: Path) -> None:
    """Killed with the night's rows written and not committed: the nights stored before stay, the killed
    one is not there at all, the file is a sound database, and ingesting that run again stores it once."""
    db = tmp_path / "history.db"
    assert _ingest(db, "lab", "kernel-6.1-a").wait(120) == 0
    for _ in range(2):
        p = subprocess.Popen([sys.executable, "-c", HELD, "history", "ingest", str(RUNS / "kernel-6.1-b"),
                              "--history", str(db), "--lab", "lab"], stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert p.stdout is not None and p.stdout.readline().strip() == "inside"
        p.send_signal(signal.SIGKILL)
        p.wait(60)
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert _nights(db, "lab") == [(1, "6.1.0-57-amd64")]  # the killed night is not there, even in part
    again = _ingest(db, "lab", "kernel-6.1-b")
    assert again.wait(120) == 0, again.communicate()[1][-2000:]
    assert [s for s, _ in _nights(db, "lab")] == [1, 2]  # the killed night, once
