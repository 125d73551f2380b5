"""The NAS settled before each hog trial: its command, run for real by sh and GNU dd on files laid out as
the roles lay them out."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from swaplab.fleet import nas_settle
from swaplab.inventory import Inventory


def layout(tmp: Path, blade: str) -> tuple[Path, Path]:
    swap, nbd = tmp / "swap", tmp / "nbd"
    (swap / blade).mkdir(parents=True)
    nbd.mkdir()
    (swap / blade / "swapfile").write_bytes(b"swaplab\n" * 4096)
    (nbd / f"{blade}.img").write_bytes(b"\0" * 65536)
    return swap, nbd


def run(cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False, timeout=30)


def test_the_blades_files_are_written_back_and_kept_whole(tmp_path: Path) -> None:
    swap, nbd = layout(tmp_path, "r1-b01")
    before = (swap / "r1-b01" / "swapfile").read_bytes(), (nbd / "r1-b01.img").read_bytes()
    r = run(nas_settle.command(str(swap), str(nbd), "r1-b01"))
    assert r.returncode == 0, r.stderr
    assert ((swap / "r1-b01" / "swapfile").read_bytes(), (nbd / "r1-b01.img").read_bytes()) == before


def test_a_missing_file_or_a_symbolic_link_is_left_alone(tmp_path: Path) -> None:
    swap, nbd = layout(tmp_path, "b1")
    (nbd / "b1.img").unlink()
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not the NAS's")
    os.symlink(target, nbd / "b1.img")
    (swap / "b1" / "swapfile").unlink()
    r = run(nas_settle.command(str(swap), str(nbd), "b1"))
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == b"not the NAS's" and not (swap / "b1" / "swapfile").exists()


def test_a_directory_in_a_files_place_is_skipped_and_dd_failing_fails_the_command(tmp_path: Path) -> None:
    swap, nbd = layout(tmp_path, "b1")
    (nbd / "b1.img").unlink()
    (nbd / "b1.img").mkdir()
    assert run(nas_settle.command(str(swap), str(nbd), "b1")).returncode == 0
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dd").write_text("#!/bin/sh\nexit 1\n")
    (fake / "dd").chmod(0o755)
    r = run(f"PATH={fake}:$PATH; " + nas_settle.command(str(swap), str(nbd), "b1"))
    assert r.returncode == 1


def test_the_paths_come_from_the_nas_host_vars_else_the_roles_defaults() -> None:
    raw = {"nas": {"hosts": ["nas1"]}, "blades": {"hosts": ["b1"]},
           "_meta": {"hostvars": {"nas1": {"nfs_server__swap_dir": "/export/swap"}, "b1": {}}}}  # fmt: skip
    inv = Inventory.of("hosts.yml", raw)
    assert inv.nas_var("nfs_server__swap_dir", "/srv/swap") == "/export/swap"
    assert inv.nas_var("nbd_server__dir", "/srv/nbd") == "/srv/nbd"
