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
    # The default order reads the newest pages first (those still in RAM): same pages, other order.
    res = hog.verify(buf, 3, 1, off)
    assert res["bad_pages"] == 2 and [b["page"] for b in res["first_bad"]] == [40, 17]


def test_a_zeroed_page_is_caught() -> None:
    buf = bytearray(8 * hog.PAGE)
    off = hog.Progress(None, 8)
    hog.fill(buf, 1, off)
    buf[5 * hog.PAGE : 6 * hog.PAGE] = bytes(hog.PAGE)
    assert hog.verify(buf, 1, 1, off)["first_bad"][0] == {"pass": 0, "page": 5, "found": "00" * 16}


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
