"""What `swaplab provision --kernel PATH` hands the kernel role, and what it refuses before anything runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from swaplab.kernel.under_test import KernelError, resolve


def kernel_vars(path: str) -> dict[str, object]:
    return resolve(path, print).ansible_vars()


DATA = Path(__file__).parent / "data"
REL = "6.1.0-56-amd64"


def _tree(root: Path, modules: bool = True, image: bool = True) -> Path:
    """A kernel tree as `make install INSTALL_PATH=DIR/boot modules_install INSTALL_MOD_PATH=DIR` leaves it."""
    (root / "boot").mkdir(parents=True)
    (root / "boot" / f"config-{REL}").write_text((DATA / f"config-{REL}").read_text())
    if image:
        (root / "boot" / f"vmlinuz-{REL}").write_bytes(b"not really a bzImage")
    if modules:
        for ko in ("fs/nfs/nfs.ko", "fs/nfs/nfsv3.ko", "fs/nfs/nfsv4.ko", "drivers/block/nbd.ko"):
            path = root / "lib" / "modules" / REL / "kernel" / ko
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    return root


def test_a_tree_gives_the_image_its_checksum_and_the_modules(tmp_path: Path) -> None:
    root = _tree(tmp_path / "k")
    v = kernel_vars(str(root))
    assert v["kind"] == "tree" and v["release"] == REL and v["path"] == str(root)
    assert v["image"] == str(root / "boot" / f"vmlinuz-{REL}")
    assert v["image_sha256"] == hashlib.sha256(b"not really a bzImage").hexdigest()
    assert v["modules"] == str(root / "lib" / "modules" / REL)
    assert v["modules_tar"].endswith(f"tree-{REL}-modules.tar.gz")  # type: ignore[union-attr]
    assert v["sha256"] == v["image_sha256"]  # hashed once: a tree's checksum is its image's


def test_a_tree_without_its_modules_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match=r"CONFIG_NFS_FS=m but nfs\.ko is missing"):
        kernel_vars(str(_tree(tmp_path / "k", modules=False)))


def test_a_tree_without_its_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match=f"no boot/vmlinuz-{REL}: a blade needs both"):
        kernel_vars(str(_tree(tmp_path / "k", image=False)))


def test_a_config_alone_cannot_boot_a_blade(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match=r"a config alone cannot boot a blade: pass a kernel \.deb"):
        kernel_vars(str(DATA / f"config-{REL}"))


def test_run_validates_a_tree_and_reports_its_image_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplab.run import RunOptions, validate

    monkeypatch.setenv("SWAPLAB_LAB_DIR", str(tmp_path / "lab"))  # no virtual lab up there
    root = _tree(tmp_path / "k")
    # The VM NAS: the host NAS needs a network namespace of its own, which a unit test does not run in.
    checked = validate(RunOptions(kernel=str(root), nas="vm"), lambda _m: None)
    assert checked.problems == [] and checked.inventory is None  # the virtual lab's: written by `lab up`
    image_sha = checked.kernel.ansible_vars()["sha256"]  # type: ignore[union-attr]
    assert image_sha == hashlib.sha256(b"not really a bzImage").hexdigest()  # a directory has no checksum
