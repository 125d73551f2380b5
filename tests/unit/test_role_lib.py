"""The NAS roles' shared shell functions (roles/swaplab_lib/files/lib.sh), run by dash as the NAS runs them."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from swaplab.repo import ROOT

LIB = (ROOT / "roles/swaplab_lib/files/lib.sh").read_text()
SCRIPTS = [ROOT / f"roles/{r}/files/{r}.sh" for r in ("nbd_server", "nfs_server", "pxe_server")]


def _put(path: Path, mode: str, content: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dash", "-c", 'eval "$SWAPLAB_LIB"; put "$@"', "put", str(path), mode, content],
                          env={"SWAPLAB_LIB": LIB, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip


def test_put_writes_only_a_change_with_its_mode_and_says_so(tmp_path: Path) -> None:
    f = tmp_path / "exports"
    first = _put(f, "0600", "a b\nc")
    assert first.returncode == 0 and first.stdout == f"changed: wrote {f}\n"
    assert f.read_text() == "a b\nc\n" and stat.S_IMODE(f.stat().st_mode) == 0o600
    again = _put(f, "0600", "a b\nc")
    assert again.returncode == 1 and again.stdout == ""  # unchanged: nothing said
    assert _put(f, "0644", "d").returncode == 0 and f.read_text() == "d\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports"]  # no temporary left behind


def test_each_script_uses_the_shared_put_and_refuses_to_run_without_it() -> None:
    for script in SCRIPTS:
        text = script.read_text()
        assert "put()" not in text, f"{script.name} defines put() again: it lives in swaplab_lib"
        r = subprocess.run(["dash", str(script)], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                           timeout=30, check=False)  # fmt: skip
        assert r.returncode == 2 and "SWAPLAB_LIB is empty: run this script from its role" in r.stderr, script
