"""Progress lines reach the terminal while an in-process pytest captures this process's stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys, time
from pathlib import Path
import pytest
from swaplab.run import ProgressFollower

log = Path(sys.argv[1])
suite = Path(sys.argv[2])
suite.write_text(
    "import time\\n"
    "def test_slow():\\n"
    f"    open({str(log)!r}, 'a').write('blade1: hog-t1-nfs: writing the working set, 40% (12 s of 300 s)\\\\n')\\n"
    "    time.sleep(2)\\n"
)
f = ProgressFollower(log, print)
f.start()
pytest.main([str(suite), "-q", "-p", "no:cacheprovider"])
f.stop()
"""


def test_progress_lines_get_past_pytests_capture(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "progress.log"), str(tmp_path / "test_x.py")],
                       capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "  .. blade1: hog-t1-nfs: writing the working set, 40% (12 s of 300 s)" in r.stdout, r.stdout
