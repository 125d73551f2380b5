"""check-kernel on Debian 12's real config and package, and on inputs derived from them."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
from pathlib import Path

import pytest

from swaplab.cli import main
from swaplab.kernel.check import check_path, judge, parse_config
from swaplab.kernel.sources import KernelInfo, KernelUnreadable, extract_ikconfig, load_kernel

DATA = Path(__file__).parent / "data"
DEBIAN_CONFIG = DATA / "config-6.1.0-56-amd64"
METAPACKAGE = DATA / "linux-image-amd64_6.1.192-2_amd64.deb"


def _config(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = DEBIAN_CONFIG.read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    p = tmp_path / "config"
    p.write_text(text)
    return p


def test_debian_config_is_fit() -> None:
    v = check_path(str(DEBIAN_CONFIG))
    assert v.fit, [c for c in v.checks if c.status == "fail"]
    assert v.version == "6.1.192"


def test_nfs_swap_unset_is_unfit_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _config(tmp_path, ("CONFIG_NFS_SWAP=y", "# CONFIG_NFS_SWAP is not set"))
    v = check_path(str(p))
    assert not v.fit
    assert [c.name for c in v.checks if c.status == "fail"] == ["CONFIG_NFS_SWAP"]
    assert main(["check-kernel", str(p)]) == 1
    out = capsys.readouterr().out
    assert "CONFIG_NFS_SWAP" in out and "set CONFIG_NFS_SWAP=y" in out


def test_no_way_to_boot_diskless(tmp_path: Path) -> None:
    p = _config(tmp_path, ("CONFIG_BLK_DEV_INITRD=y", "# CONFIG_BLK_DEV_INITRD is not set"))
    v = check_path(str(p))
    assert [c.name for c in v.checks if c.status == "fail"] == ["diskless boot"]


def test_ip_pnp_root_nfs_boots_without_initrd(tmp_path: Path) -> None:
    p = _config(
        tmp_path,
        ("CONFIG_BLK_DEV_INITRD=y", "# CONFIG_BLK_DEV_INITRD is not set"),
        ("# CONFIG_IP_PNP is not set", "CONFIG_IP_PNP=y\nCONFIG_ROOT_NFS=y"),
        ("CONFIG_NFS_FS=m", "CONFIG_NFS_FS=y"),
    )
    assert check_path(str(p)).fit


def test_broken_release_range_warns(tmp_path: Path) -> None:
    p = _config(tmp_path, ("# Linux/x86 6.1.192 Kernel Configuration", "# Linux/x86 5.10.140 Kernel Configuration"))
    v = check_path(str(p))
    assert v.fit
    (rel,) = [c for c in v.checks if c.name == "release"]
    assert rel.status == "warn" and "5.4-5.18" in rel.detail


def test_parse_config_values() -> None:
    cfg = parse_config('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_D=m\n')
    assert cfg == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": "x y", "CONFIG_D": "m"}


def _tree(tmp_path: Path, with_nbd: bool) -> Path:
    rel = "6.1.0-56-amd64"
    (tmp_path / "boot").mkdir()
    shutil.copy(DEBIAN_CONFIG, tmp_path / "boot" / f"config-{rel}")
    mods = tmp_path / "lib" / "modules" / rel / "kernel"
    (mods / "fs" / "nfs").mkdir(parents=True)
    (mods / "fs" / "nfs" / "nfs.ko").write_bytes(b"")
    (mods / "drivers" / "block").mkdir(parents=True)
    if with_nbd:
        (mods / "drivers" / "block" / "nbd.ko.xz").write_bytes(b"")
    return tmp_path


def test_tree_with_modules(tmp_path: Path) -> None:
    v = check_path(str(_tree(tmp_path, with_nbd=True)))
    assert v.fit and v.release == "6.1.0-56-amd64" and v.kind == "tree"


def test_tree_missing_nbd_module_is_unfit(tmp_path: Path) -> None:
    v = check_path(str(_tree(tmp_path, with_nbd=False)))
    (fail,) = [c for c in v.checks if c.status == "fail"]
    assert fail.name == "CONFIG_BLK_DEV_NBD" and "nbd.ko is missing" in fail.detail


def _fake_bzimage(config: bytes, version: bytes) -> bytes:
    """A bzImage-shaped file: setup header with HdrS and a version string, then a
    gzip payload holding the IKCONFIG blob, as scripts/extract-ikconfig sees one."""
    setup = bytearray(0x400)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x20E, 0x300 - 0x200)
    setup[0x300 : 0x300 + len(version)] = version
    payload = b"\0" * 4096 + b"IKCFG_ST" + gzip.compress(config) + b"IKCFG_ED" + b"\0" * 4096
    return bytes(setup) + gzip.compress(payload)


def test_ikconfig_bzimage(tmp_path: Path) -> None:
    img = tmp_path / "bzImage"
    img.write_bytes(_fake_bzimage(DEBIAN_CONFIG.read_bytes(), b"6.1.0-56-amd64 (builder@x) #1 SMP"))
    info = load_kernel(str(img))
    assert info.kind == "bzimage" and info.release == "6.1.0-56-amd64"
    assert judge(info).fit


def test_bzimage_without_ikconfig_is_unreadable(tmp_path: Path) -> None:
    img = tmp_path / "bzImage"
    img.write_bytes(_fake_bzimage(b"", b"6.1.0 #1")[:0x400] + gzip.compress(b"\0" * 10000))
    with pytest.raises(KernelUnreadable, match="CONFIG_IKCONFIG"):
        load_kernel(str(img))
    assert extract_ikconfig(img.read_bytes()) is None


def test_metapackage_names_the_real_image(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-kernel", str(METAPACKAGE)]) == 2
    err = capsys.readouterr().err
    assert "linux-image-6.1.0-56-amd64" in err and "not a kernel image package" in err


@pytest.mark.parametrize("content", [b"", b"hello world\n", b"\x7fELF" + b"\0" * 100])
def test_not_a_kernel(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x"
    p.write_bytes(content)
    assert main(["check-kernel", str(p)]) == 2


def test_missing_path() -> None:
    assert main(["check-kernel", "/nonexistent/kernel.deb"]) == 2


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["check-kernel", "--json", str(DEBIAN_CONFIG)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["fit"] is True and d["missing"] == []


@pytest.mark.kernel_deb
def test_debian_stock_kernel_package() -> None:
    """Debian 12's real image package (fetched by .ci/run with apt-get download)."""
    deb = os.environ.get("SWAPLAB_KERNEL_DEB")
    if not deb:
        if os.environ.get("CI"):
            pytest.fail("SWAPLAB_KERNEL_DEB is not set in CI: .ci/run must fetch the kernel package")
        pytest.skip("set SWAPLAB_KERNEL_DEB to a linux-image-*.deb (apt-get download linux-image-6.1.0-*-amd64)")
    info = load_kernel(deb)
    assert isinstance(info, KernelInfo) and info.kind == "deb"
    assert info.modules is not None and "nbd" in info.modules and "nfs" in info.modules
    v = judge(info)
    assert v.fit
    assert main(["check-kernel", deb]) == 0
