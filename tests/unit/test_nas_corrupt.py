"""The nas-corrupt fault: the NAS mixes up the running hog's swap slots. Its program runs here on a swapfile
laid out as a blade's hog leaves it (the hog's own page stamps), through the same ``inject`` the lab uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swaplab.agent import hog
from swaplab.lab.faults import CORRUPT_PAGES, CORRUPT_PROGRAM, FaultSpec, LabHandles, inject

RUN, STALE = 4242, 17


def _swapfile(path: Path) -> dict[int, int]:
    """A 2 MiB swapfile: a header page, then the running hog's pages 0..199 out of order between filler and
    another run's stale pages. Returns page -> offset."""
    slots: dict[int, int] = {}
    blocks = [b"\xaa" * hog.PAGE]  # the swap header, say
    for n in range(200):
        slots[199 - n] = len(blocks) * hog.PAGE
        blocks.append(hog.page_content(RUN, 199 - n))
        if n % 7 == 0:
            blocks.append(hog.page_content(STALE, n))
    blocks += [b"y\n" * (hog.PAGE // 2)] * (512 - len(blocks))
    path.write_bytes(b"".join(blocks))
    return slots


@pytest.fixture(autouse=True)
def _short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplab.lab import faults

    monkeypatch.setattr(faults, "CORRUPT_WAIT_S", 1)  # fewer pages out than it waits for: take them after 1 s


def _local_handles(swapfile: Path) -> LabHandles:
    def shell(command: str, timeout: float) -> str:
        r = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=False)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip())
        return r.stdout

    return LabHandles(Path("/nonexistent.qmp"), lambda _f: None, lambda _k: None, shell,
                      hog_swapfile=lambda: (RUN, str(swapfile)))  # fmt: skip


def test_the_lowest_pages_of_the_running_hog_are_mixed_up_in_pairs_and_nothing_else(tmp_path: Path) -> None:
    swapfile = tmp_path / "swapfile"
    slots = _swapfile(swapfile)
    before = swapfile.read_bytes()
    injection = inject(FaultSpec.parse("nas-corrupt@hog-t1-nfs+20"), _local_handles(swapfile))
    assert injection.error == "" and injection.injected_at is not None
    assert injection.detail == f"{CORRUPT_PAGES} page(s) of the hog (run {RUN}) mixed up in pairs in {swapfile}"
    after = swapfile.read_bytes()
    for page, offset in slots.items():
        held = hog.describe(after[offset : offset + hog.PAGE], RUN)
        if page < CORRUPT_PAGES:
            assert held == f"page {page ^ 1}'s content", (page, held)  # 0<->1, 2<->3, ...
        else:
            assert after[offset : offset + hog.PAGE] == hog.page_content(RUN, page)
    changed = {
        o // hog.PAGE for o in range(0, len(after), hog.PAGE) if after[o : o + hog.PAGE] != before[o : o + hog.PAGE]
    }
    assert changed == {slots[p] // hog.PAGE for p in range(CORRUPT_PAGES)}  # the stale run's pages untouched


def test_a_swapfile_without_the_hogs_pages_is_an_injection_error(tmp_path: Path) -> None:
    swapfile = tmp_path / "swapfile"
    swapfile.write_bytes(hog.page_content(STALE, 0) * 4)
    injection = inject(FaultSpec.parse("nas-corrupt@hog-t1-nfs+20"), _local_handles(swapfile))
    assert injection.injected_at is None and f"no page of the hog (run {RUN})" in injection.error


def test_the_program_waits_for_enough_pages_then_takes_what_there_is(tmp_path: Path) -> None:
    swapfile = tmp_path / "swapfile"
    swapfile.write_bytes(b"".join(hog.page_content(RUN, i) for i in range(10)))
    r = subprocess.run(["python3", "-c", CORRUPT_PROGRAM, str(swapfile), str(RUN), "64", "1"], capture_output=True,
                       text=True, timeout=60, check=False)  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == "10"  # fewer than asked: all ten, in pairs


def test_nas_corrupt_takes_no_duration() -> None:
    with pytest.raises(ValueError, match="nas-corrupt takes no duration"):
        FaultSpec.parse("nas-corrupt:30@hog-t1-nfs+20")


def test_the_scribble_overwrites_every_eighth_block_and_spares_the_header(tmp_path: Path) -> None:
    """nas-scribble: what a blade swapped out there, any process's, comes back wrong; the swap header stays."""
    from swaplab.lab.faults import SCRIBBLE_EVERY

    swapfile = tmp_path / "swapfile"
    swapfile.write_bytes(b"\xaa" * hog.PAGE * 100)
    injection = inject(FaultSpec.parse("nas-scribble@hog-t1-nfs+10"), _local_handles(swapfile))
    assert injection.error == "" and injection.detail.startswith("12 blocks of 4 KiB overwritten in ")
    after = swapfile.read_bytes()
    blocks = [after[i * hog.PAGE : (i + 1) * hog.PAGE] for i in range(100)]
    hit = [i for i, b in enumerate(blocks) if b != b"\xaa" * hog.PAGE]
    assert hit == list(range(SCRIBBLE_EVERY, 100, SCRIBBLE_EVERY)) and len(after) == 100 * hog.PAGE


def _find_hog(load_dir: Path, also: str = "true", wait_s: int = 2) -> str:
    from swaplab.labhooks import _running_hog

    script = _running_hog(str(load_dir), also, wait_s) + ' echo "[$p]"'
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30).stdout.strip()


def test_the_fault_finds_the_running_hog_never_a_pid_an_earlier_trial_left(tmp_path: Path) -> None:
    """The fault's clock starts before the load's directory is made anew: a pid file an earlier trial left
    (the blade's root outlives its reboot) may still be there, and its pid may now be anyone's."""
    fake = tmp_path / "hog.py"
    fake.symlink_to("/bin/sleep")
    (tmp_path / "hog.pid").write_text("1\n")
    assert _find_hog(tmp_path) == "[]"  # pid 1 is never a hog
    other = subprocess.Popen(["sleep", "30"])  # a live process that is not a hog
    hog_ = subprocess.Popen([str(fake), "30"])
    try:
        (tmp_path / "hog.pid").write_text(f"{other.pid}\n")
        assert _find_hog(tmp_path) == "[]"
        (tmp_path / "hog.pid").write_text(f"{hog_.pid}\n")
        assert _find_hog(tmp_path) == f"[{hog_.pid}]"
        # hog-stop also waits for the hog's first progress
        assert _find_hog(tmp_path, f"[ -s {tmp_path}/progress.json ]") == "[]"
        (tmp_path / "progress.json").write_text("{}")
        assert _find_hog(tmp_path, f"[ -s {tmp_path}/progress.json ]") == f"[{hog_.pid}]"
    finally:
        for p in (other, hog_):
            p.kill()
            p.wait()
