"""The blade-side memory hog, run here on small working sets (its logic is the same on a blade)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from swaplab.agent import HOG, hog


def test_pages_are_unique_and_never_zero() -> None:
    a, b = hog.page_content(7, 0), hog.page_content(7, 1)
    assert len(a) == hog.PAGE and a != b
    assert hog.page_content(8, 0) != a  # another run's page is not mistaken for this one's
    for i in range(0, len(a), 16):
        assert a[i : i + 16] != bytes(16)


def test_verify_names_the_corrupted_page() -> None:
    buf = bytearray(64 * hog.PAGE)
    off = hog.Progress(None, 64)
    hog.fill(buf, 3, off)
    assert hog.verify(buf, 3, 1, off)["bad_pages"] == 0
    buf[17 * hog.PAGE + 100] ^= 0xFF  # one flipped byte in page 17
    buf[40 * hog.PAGE : 41 * hog.PAGE] = hog.page_content(3, 39)  # page 40 came back from the wrong slot
    res = hog.verify(buf, 3, 2, off, order="forward")
    assert res["bad_pages"] == 4  # two pages, two passes
    assert [b["page"] for b in res["first_bad"][:2]] == [17, 40]
    assert res["first_bad"][1]["found"] == hog.STAMP.pack(hog.MAGIC, 3, 39).hex()
    # What each holds instead, and the first one's bytes for a person to read.
    assert [b["holds"] for b in res["first_bad"][:2]] == ["a stamp of run 3 page 17, not whole", "page 39's content"]
    assert bytes.fromhex(res["first_bad"][0]["hexdump"]) == bytes(buf[17 * hog.PAGE : 17 * hog.PAGE + 256])
    assert "hexdump" not in res["first_bad"][1]
    # The default order reads the newest pages first (those still in RAM): same pages, other order.
    res = hog.verify(buf, 3, 1, off)
    assert res["bad_pages"] == 2 and [b["page"] for b in res["first_bad"]] == [40, 17]


def test_a_zeroed_page_is_caught() -> None:
    buf = bytearray(8 * hog.PAGE)
    off = hog.Progress(None, 8)
    hog.fill(buf, 1, off)
    buf[5 * hog.PAGE : 6 * hog.PAGE] = bytes(hog.PAGE)
    assert hog.verify(buf, 1, 1, off)["first_bad"][0] == {"pass": 0, "page": 5, "found": "00" * 16, "holds": "zeros",
                                                          "hexdump": "00" * 256}  # fmt: skip


def test_the_program_writes_its_result(tmp_path: Path) -> None:
    out, progress = tmp_path / "hog.json", tmp_path / "progress.json"
    r = subprocess.run([sys.executable, str(HOG), "--mib", "8", "--out", str(out), "--progress", str(progress)],
                       capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["status"] == "done" and res["bad_pages"] == 0
    assert res["mib"] == 8 and res["pages"] == 8 * 256
    assert set(res["vmstat_delta"]) >= {"pswpin", "pswpout", "oom_kill"}
    assert res["total_s"] > 0 and res["working_set_mib_per_s"] > 0
    assert json.loads(progress.read_text())["phase"] == "write"


def test_working_set_as_a_multiple_of_ram(tmp_path: Path) -> None:
    out = tmp_path / "hog.json"
    # 0.001 x MemTotal: a few MiB here; the same flag means 2x RAM on a blade.
    r = subprocess.run([sys.executable, str(HOG), "--times-ram", "0.001", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["mib"] == int(res["mem_total_kib"] * 0.001 / 1024)


def test_release_gives_verified_pages_back_without_hiding_corruption() -> None:
    import mmap

    pages = 4 * hog.RELEASE_PAGES + 10
    buf = mmap.mmap(-1, pages * hog.PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    off = hog.Progress(None, pages)
    hog.fill(buf, 5, off)
    buf[3 * hog.PAGE] ^= 0x01  # near the end of a reverse walk: verified before any release could touch it
    res = hog.verify(buf, 5, 1, off, release=True)
    assert res["bad_pages"] == 1 and res["first_bad"][0]["page"] == 3
    # The newest pages were verified first and given back: they read as fresh zero pages now.
    assert buf[(pages - 1) * hog.PAGE : pages * hog.PAGE] == bytes(hog.PAGE)
    # Without release every page keeps its content.
    hog.fill(buf, 6, off)
    assert hog.verify(buf, 6, 1, off, order="forward")["bad_pages"] == 0
    assert buf[(pages - 1) * hog.PAGE : pages * hog.PAGE] == hog.page_content(6, pages - 1)


def test_the_shipped_hog_pins_its_own_pages_and_not_its_working_set(tmp_path: Path) -> None:
    """As on a blade: hog.py and pin.py in one directory, run by a python3 without swaplab installed. Its
    code and data are locked as they are touched (VmLck grows); the working set (a later mapping) is not."""
    import shutil

    from swaplab.agent import PIN

    for program in (HOG, PIN):
        shutil.copy(program, tmp_path / program.name)
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python is not None
    out = tmp_path / "hog.json"
    r = subprocess.run([python, str(tmp_path / "hog.py"), "--mib", "64", "--out", str(out)], capture_output=True,
                       text=True, timeout=120, check=False, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["pinned"] is True and res["pin_error"] == ""
    r = subprocess.run([python, str(tmp_path / "hog.py"), "--mib", "8", "--out", str(out), "--no-pin"],
                       capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert r.returncode == 0 and json.loads(out.read_text())["pinned"] is False


def test_pinning_locks_touched_pages_only() -> None:
    """mlockall(MCL_CURRENT | MCL_ONFAULT): the process's mappings are locked (VmLck) without being read in
    whole (its resident set stays well below them), and a mapping made afterwards (the hog's working set)
    is not locked."""
    code = (
        "import mmap, sys; sys.path.insert(0, sys.argv[1]); from pin import pin; assert pin(future=False) == ''\n"
        "def st(): return {k: int(v.split()[0]) for k, v in (l.split(':', 1) for l in open('/proc/self/status'))"
        " if k in ('VmLck', 'VmRSS')}\n"
        "a = st(); buf = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)\n"
        "buf.write(b'x' * (64 << 20)); b = st()\n"
        "print(a['VmLck'], a['VmRSS'], b['VmLck'], b['VmRSS'])"
    )
    from swaplab.agent import PIN

    r = subprocess.run(["/usr/bin/python3", "-c", code, str(PIN.parent)], capture_output=True, text=True, timeout=60,
                       check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    locked, rss, locked_after, rss_after = map(int, r.stdout.split())
    assert locked > 0 and rss < 0.9 * locked  # KiB: locked as touched, not read in whole
    assert rss_after > rss + (60 << 10) and locked_after < locked + (1 << 10)  # the 64 MiB: resident, not locked
