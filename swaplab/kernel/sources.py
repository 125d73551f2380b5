"""Find a kernel's configuration, release and module list, wherever it lives.

Accepted: a Debian kernel image ``.deb``, a kernel config file, a bzImage
built with CONFIG_IKCONFIG, or a directory holding ``boot/`` and
``lib/modules/`` (an unpacked package or a root filesystem).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_MODULE_RE = re.compile(
    r"(?:^|/)lib/modules/(?P<rel>[^/]+)/(?:kernel|updates|extra)/.*?(?P<name>[^/]+)\.ko(?:\.(?:xz|zst|gz))?$"
)
_CONFIG_NAME_RE = re.compile(r"(?:^|/)boot/config-(?P<rel>[^/]+)$")
_VMLINUZ_NAME_RE = re.compile(r"(?:^|/)boot/vmlinuz-(?P<rel>[^/]+)$")
_CONFIG_HEADER_RE = re.compile(r"^# Linux/\S+ (?P<version>\d+\.\d+(?:\.\d+)?\S*) Kernel Configuration", re.M)
_CONFIG_LINE_RE = re.compile(r"^(?:CONFIG_\w+=|# CONFIG_\w+ is not set)", re.M)
IKCFG_START, IKCFG_END = b"IKCFG_ST", b"IKCFG_ED"


class KernelUnreadable(Exception):
    """The path is missing, unreadable, or holds no kernel swaplab can judge."""


@dataclass
class KernelInfo:
    path: str
    kind: str  # deb | config | bzimage | tree
    release: str | None
    config_text: str
    modules: set[str] | None = None  # None: this kind of input cannot tell
    notes: list[str] = field(default_factory=list)
    package: str | None = None  # Debian package name and version, for a .deb
    package_version: str | None = None

    @property
    def version(self) -> tuple[int, int, int] | None:
        """Upstream version from the config header (exact) or the release name."""
        m = _CONFIG_HEADER_RE.search(self.config_text)
        text = m.group("version") if m else (self.release or "")
        v = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
        if not v:
            return None
        return int(v.group(1)), int(v.group(2)), int(v.group(3) or 0)


def looks_like_config(text: str) -> bool:
    return len(_CONFIG_LINE_RE.findall(text[:200_000])) >= 5


# --- .deb ---------------------------------------------------------------------


def _ar_members(f: IO[bytes]) -> dict[str, tuple[int, int]]:
    if f.read(8) != b"!<arch>\n":
        raise KernelUnreadable("not an ar archive")
    members: dict[str, tuple[int, int]] = {}
    while True:
        header = f.read(60)
        if len(header) < 60:
            return members
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = (f.tell(), size)
        f.seek(size + (size & 1), os.SEEK_CUR)


def _open_member(f: IO[bytes], offset: int, size: int, name: str) -> IO[bytes]:
    f.seek(offset)
    raw = io.BytesIO(f.read(size)) if size < (256 << 20) else f
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError as e:  # pragma: no cover - zstandard is a dependency
            raise KernelUnreadable("zstd-compressed package: install the zstandard module") from e
        return zstandard.ZstdDecompressor().stream_reader(raw)
    return raw


def _tar_open(stream: IO[bytes], name: str) -> tarfile.TarFile:
    mode = "r|*" if not name.endswith(".zst") else "r|"
    return tarfile.open(fileobj=stream, mode=mode)  # type: ignore[call-overload, no-any-return]


def _deb_control(f: IO[bytes], members: dict[str, tuple[int, int]]) -> dict[str, str]:
    name = next((n for n in members if n.startswith("control.tar")), None)
    if name is None:
        raise KernelUnreadable("no control.tar in the package: not a Debian package")
    with _tar_open(_open_member(f, *members[name], name), name) as tar:
        for member in tar:
            if member.name.lstrip("./") == "control":
                data = tar.extractfile(member)
                text = data.read().decode("utf-8", "replace") if data else ""
                return dict(re.findall(r"^([\w-]+): *(.*)$", text, re.M))
    return {}


def load_deb(path: str) -> KernelInfo:
    with open(path, "rb") as f:
        members = _ar_members(f)
        control = _deb_control(f, members)
        name = next((n for n in members if n.startswith("data.tar")), None)
        if name is None:
            raise KernelUnreadable(f"{path}: no data.tar in the package")
        configs: dict[str, str] = {}
        modules: dict[str, set[str]] = {}
        with _tar_open(_open_member(f, *members[name], name), name) as tar:
            for member in tar:
                mname = member.name
                if m := _MODULE_RE.search(mname):
                    modules.setdefault(m.group("rel"), set()).add(m.group("name").replace("-", "_"))
                elif (m := _CONFIG_NAME_RE.search(mname)) and member.isfile():
                    data = tar.extractfile(member)
                    if data is not None:
                        configs[m.group("rel")] = data.read().decode("utf-8", "replace")
    pkg = control.get("Package", os.path.basename(path))
    if not configs:
        depends = control.get("Depends", "")
        hint = ""
        image = re.search(r"(linux-image-[\w.+-]+)", depends)
        if image:
            hint = f"; it depends on {image.group(1)}: pass that package (apt-get download {image.group(1)})"
        raise KernelUnreadable(f"{path}: package {pkg} holds no boot/config-*: not a kernel image package{hint}")
    if len(configs) > 1:
        raise KernelUnreadable(f"{path}: package {pkg} holds several kernels: {', '.join(sorted(configs))}")
    rel, text = next(iter(configs.items()))
    version = control.get("Version", "")
    return KernelInfo(
        path, "deb", rel, text, modules.get(rel, set()), [f"package {pkg} {version}".strip()], pkg, version or None
    )


# --- bzImage with IKCONFIG -------------------------------------------------------


def _bzimage_release(data: bytes) -> str | None:
    if len(data) < 0x210 or data[0x202:0x206] != b"HdrS":
        return None
    (ptr,) = struct.unpack_from("<H", data, 0x20E)
    start = 0x200 + ptr
    if ptr == 0 or start >= len(data):
        return None
    raw = data[start : start + 256].split(b"\0", 1)[0].decode("ascii", "replace")
    return raw.split(" ", 1)[0] or None


def _decompressors() -> list[tuple[bytes, str]]:
    return [
        (b"\x1f\x8b\x08", "gzip"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"BZh", "bzip2"),
        (b"\x5d\x00\x00\x00", "lzma"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
    ]


def _decompress_at(data: bytes, offset: int, algo: str, limit: int = 512 << 20) -> bytes:
    """Decompress a stream starting at ``offset``, ignoring what trails it."""
    blob = data[offset:]
    try:
        if algo == "gzip":
            return zlib.decompressobj(31).decompress(blob, limit)
        if algo == "xz":
            return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(blob, limit)
        if algo == "lzma":
            return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(blob, limit)
        if algo == "bzip2":
            return bz2.BZ2Decompressor().decompress(blob, limit)
        if algo == "zstd":
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError, ImportError):
        return b""
    return b""


def _ikconfig(blob: bytes) -> str | None:
    start = blob.find(IKCFG_START)
    while start >= 0:
        gz = start + len(IKCFG_START)
        try:
            text = gzip.decompress(blob[gz : blob.find(IKCFG_END, gz)]).decode("utf-8", "replace")
        except (OSError, EOFError, zlib.error):
            text = ""
        if looks_like_config(text):
            return text
        start = blob.find(IKCFG_START, gz)
    return None


def extract_ikconfig(data: bytes) -> str | None:
    """What scripts/extract-ikconfig does: look raw, then inside each compressed payload."""
    found = _ikconfig(data)
    if found:
        return found
    for magic, algo in _decompressors():
        pos = data.find(magic)
        tries = 0
        while pos >= 0 and tries < 8:
            found = _ikconfig(_decompress_at(data, pos, algo))
            if found:
                return found
            pos = data.find(magic, pos + 1)
            tries += 1
    return None


def load_bzimage(path: str, data: bytes) -> KernelInfo:
    release = _bzimage_release(data)
    config = extract_ikconfig(data)
    if config is None:
        raise KernelUnreadable(
            f"{path}: kernel image {release or ''} carries no configuration (built without CONFIG_IKCONFIG): "
            "pass its config file, its .deb, or a tree with boot/config-<release>".replace("  ", " ")
        )
    return KernelInfo(
        path, "bzimage", release, config, None, ["module presence not checked: a bare image has no modules"]
    )


# --- directory tree ------------------------------------------------------------


def load_tree(path: str, release: str | None) -> KernelInfo:
    root = Path(path)
    boot = root / "boot"
    configs = {p.name[len("config-") :]: p for p in boot.glob("config-*")} if boot.is_dir() else {}
    images = {p.name[len("vmlinuz-") :]: p for p in boot.glob("vmlinuz-*")} if boot.is_dir() else {}
    releases = sorted(set(configs) | set(images))
    if release is not None:
        if release not in releases:
            raise KernelUnreadable(f"{path}: no kernel {release} under boot/ (found: {', '.join(releases) or 'none'})")
        releases = [release]
    if not releases:
        raise KernelUnreadable(f"{path}: no boot/config-<release> or boot/vmlinuz-<release>: not a kernel tree")
    if len(releases) > 1:
        raise KernelUnreadable(f"{path}: several kernels ({', '.join(releases)}): choose one with --release")
    rel = releases[0]
    if rel in configs:
        text = configs[rel].read_text("utf-8", "replace")
    else:
        cfg = extract_ikconfig(images[rel].read_bytes())
        if cfg is None:
            raise KernelUnreadable(f"{path}: boot/vmlinuz-{rel} has no IKCONFIG and there is no boot/config-{rel}")
        text = cfg
    moddir = root / "lib" / "modules" / rel
    if not moddir.is_dir():
        moddir = root / "usr" / "lib" / "modules" / rel
    modules: set[str] = set()
    if moddir.is_dir():
        for p in moddir.rglob("*.ko*"):
            if m := _MODULE_RE.search(p.as_posix()):
                modules.add(m.group("name").replace("-", "_"))
    info = KernelInfo(path, "tree", rel, text, modules)
    if not moddir.is_dir():
        info.notes.append(f"no lib/modules/{rel}: modules cannot be loaded")
    return info


# --- front door ------------------------------------------------------------------


def load_kernel(path: str, release: str | None = None) -> KernelInfo:
    if not os.path.exists(path):
        raise KernelUnreadable(f"{path}: no such file or directory")
    if os.path.isdir(path):
        return load_tree(path, release)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head == b"!<arch>\n":
                return load_deb(path)
            f.seek(0)
            data = f.read(64 << 20)
    except (OSError, tarfile.TarError, lzma.LZMAError, EOFError, ValueError) as e:
        raise KernelUnreadable(f"{path}: cannot read: {e}") from e
    if data[:2] == b"\x1f\x8b":  # /proc/config.gz
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise KernelUnreadable(f"{path}: corrupt gzip file: {e}") from e
    text = data[: 4 << 20].decode("utf-8", "replace") if b"\0" not in data[:4096] else ""
    if text and looks_like_config(text):
        m = _CONFIG_HEADER_RE.search(text)
        return KernelInfo(
            path,
            "config",
            m.group("version") if m else None,
            text,
            None,
            ["module presence not checked: a config file has no modules"],
        )
    if _bzimage_release(data) is not None or extract_ikconfig(data) is not None:
        return load_bzimage(path, data)
    raise KernelUnreadable(f"{path}: not a kernel .deb, config file, IKCONFIG bzImage or kernel tree")
