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
import stat
import struct
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from swaplab import errors
from swaplab.textsafe import visible

from .ikconfig import MAX_CONFIG_BYTES, bzimage_release, extract_ikconfig, looks_like_config

_MODULE_RE = re.compile(
    r"(?:^|/)lib/modules/(?P<rel>[^/]+)/(?:kernel|updates|extra)/.*?(?P<name>[^/]+)\.ko(?:\.(?:xz|zst|gz))?$"
)
_CONFIG_NAME_RE = re.compile(r"(?:^|/)boot/config-(?P<rel>[^/]+)\Z")
_VMLINUZ_NAME_RE = re.compile(r"(?:^|/)boot/vmlinuz-(?P<rel>[^/]+)\Z")
_CONFIG_HEADER_RE = re.compile(r"^# Linux/\S+ (?P<version>\d+\.\d+(?:\.\d+)?\S*) Kernel Configuration", re.M)
# Every read and decompression is capped: a kernel comes from a build farm, and a 100 KB file can
# claim or inflate to gigabytes. A real config is ~250 KB, a kernel package's data ~500 MB unpacked.
MAX_IMAGE_BYTES = 64 << 20
MAX_PACKAGE_DATA_BYTES = 2 << 30
MAX_READ_SECONDS = 120.0


class KernelUnreadable(errors.BadInput):
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


class _Bounded(io.RawIOBase):
    """A read-only stream that refuses to yield more than ``limit`` bytes or to run past ``seconds``."""

    def __init__(
        self, f: IO[bytes], limit: int, what: str, seconds: float = MAX_READ_SECONDS, slice_of: bool = False
    ) -> None:
        self.f, self.left, self.what = f, limit, what
        self.limit = limit
        self.slice_of = slice_of  # a member of a larger file: its end is the limit, not an error
        self.deadline = time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if time.monotonic() > self.deadline:
            raise KernelUnreadable(f"{self.what}: still reading after {MAX_READ_SECONDS:.0f} s")
        if self.slice_of and self.left == 0:
            return 0
        data = self.f.read(min(len(b), self.left if self.slice_of else self.left + 1))
        if len(data) > self.left:
            raise KernelUnreadable(f"{self.what}: more than {self.limit >> 20} MiB: not a kernel swaplab can judge")
        self.left -= len(data)
        b[: len(data)] = data
        return len(data)


def read_capped(f: IO[bytes], limit: int, what: str) -> bytes:
    data = f.read(limit + 1)
    if len(data) > limit:
        raise KernelUnreadable(f"{what}: more than {limit >> 20} MiB: not a kernel swaplab can judge")
    return data


def regular_file(path: str | Path, what: str) -> None:
    """Refuse what is not a regular file (a FIFO would hang the read, /dev/zero never end it)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise KernelUnreadable(f"{what}: cannot read: {e.strerror or e}") from e
    if not stat.S_ISREG(mode):
        raise KernelUnreadable(f"{what}: not a regular file: pass a kernel .deb, a config file or a kernel tree")


# --- .deb ---------------------------------------------------------------------


MAX_AR_MEMBERS = 64  # a .deb has three


def _ar_members(f: IO[bytes]) -> dict[str, tuple[int, int]]:
    """The members of an ar archive: name -> (offset, size). Every size is checked against the file: a
    negative one (it moved the reading backwards, for ever), one past the end, or a header that is not
    ar's is refused, and so is an archive of more than ``MAX_AR_MEMBERS`` members."""
    if f.read(8) != b"!<arch>\n":
        raise KernelUnreadable("not an ar archive")
    end = f.seek(0, os.SEEK_END)
    f.seek(8)
    members: dict[str, tuple[int, int]] = {}
    for _ in range(MAX_AR_MEMBERS + 1):
        header = f.read(60)
        if len(header) < 60:
            return members
        if header[58:60] != b"`\n":
            raise KernelUnreadable(f"ar member header at offset {f.tell() - 60} is malformed: not a Debian package")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        field = header[48:58].decode("ascii", "replace").strip()
        if not field.isdigit():
            raise KernelUnreadable(f"ar member {visible(name, one_line=True)!r} has no valid size: a damaged package")
        size = int(field)
        if f.tell() + size > end:
            raise KernelUnreadable(f"ar member {visible(name, one_line=True)!r} claims {size} bytes, past the end "
                                   "of the file: a truncated or damaged package")  # fmt: skip
        members[name] = (f.tell(), size)
        f.seek(size + (size & 1), os.SEEK_CUR)
    raise KernelUnreadable(f"more than {MAX_AR_MEMBERS} ar members: not a Debian package")


def _open_member(f: IO[bytes], offset: int, size: int, name: str) -> IO[bytes]:
    """The member's uncompressed bytes, as a stream capped in size and time."""
    f.seek(offset)
    raw: IO[bytes] = io.BufferedReader(_Bounded(f, size, name, slice_of=True))
    stream: IO[bytes]
    if name.endswith(".zst"):
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(raw)
    elif name.endswith(".xz"):
        stream = lzma.LZMAFile(raw)  # noqa: SIM115 - closed with the tar stream that reads it
    elif name.endswith(".gz"):
        stream = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    elif name.endswith(".bz2"):
        stream = bz2.BZ2File(raw)
    else:
        stream = raw
    return io.BufferedReader(_Bounded(stream, MAX_PACKAGE_DATA_BYTES, f"{name} unpacked"))


MAX_TAR_MEMBERS = 200_000  # a kernel image package holds about 6000 files


def _tar_open(stream: IO[bytes], name: str) -> tarfile.TarFile:
    return tarfile.open(fileobj=stream, mode="r|")


def _members(tar: tarfile.TarFile, name: str) -> Iterator[tarfile.TarInfo]:
    """A tar stream's members, each with a size that can be (Python's tarfile takes a negative one from a
    base-256 field), at most ``MAX_TAR_MEMBERS`` of them."""
    for n, member in enumerate(tar):
        if member.size < 0:
            raise KernelUnreadable(f"{name}: member {visible(member.name, one_line=True)[:200]!r} has a negative "
                                   "size: a damaged package")  # fmt: skip
        if n >= MAX_TAR_MEMBERS:
            raise KernelUnreadable(f"{name}: more than {MAX_TAR_MEMBERS} members: not a kernel package")
        yield member


def _deb_control(f: IO[bytes], members: dict[str, tuple[int, int]]) -> dict[str, str]:
    name = next((n for n in members if n.startswith("control.tar")), None)
    if name is None:
        raise KernelUnreadable("no control.tar in the package: not a Debian package")
    with _tar_open(_open_member(f, *members[name], name), name) as tar:
        for member in _members(tar, name):
            if member.name.lstrip("./") == "control":
                data = tar.extractfile(member)
                text = read_capped(data, 1 << 20, "control").decode("utf-8", "replace") if data else ""
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
            for member in _members(tar, name):
                mname = member.name
                if m := _MODULE_RE.search(mname):
                    modules.setdefault(m.group("rel"), set()).add(m.group("name").replace("-", "_"))
                elif (m := _CONFIG_NAME_RE.search(mname)) and member.isfile():
                    data = tar.extractfile(member)
                    if data is not None:
                        raw = read_capped(data, MAX_CONFIG_BYTES, f"{path}: {mname}")
                        configs[m.group("rel")] = raw.decode("utf-8", "replace")
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


# --- bzImage with IKCONFIG (swaplab.kernel.ikconfig reads it) --------------------


def load_bzimage(path: str, data: bytes) -> KernelInfo:
    release = bzimage_release(data)
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
        regular_file(configs[rel], f"{path}: boot/config-{rel}")
        with configs[rel].open("rb") as f:
            text = read_capped(f, MAX_CONFIG_BYTES, f"{path}: boot/config-{rel}").decode("utf-8", "replace")
    else:
        regular_file(images[rel], f"{path}: boot/vmlinuz-{rel}")
        with images[rel].open("rb") as f:
            cfg = extract_ikconfig(read_capped(f, MAX_IMAGE_BYTES, f"{path}: boot/vmlinuz-{rel}"))
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
    """Whatever ``path`` holds, or KernelUnreadable: every failure to read is that, never another exception."""
    try:
        return _load_kernel(path, release)
    except KernelUnreadable:
        raise
    except (OSError, tarfile.TarError, lzma.LZMAError, EOFError, ValueError, zlib.error, struct.error,
            MemoryError, RecursionError, UnicodeError) as e:  # fmt: skip
        raise KernelUnreadable(f"{path}: cannot read: {e}") from e
    except Exception as e:  # zstandard.ZstdError and the like: a corrupt input, not a crash
        raise KernelUnreadable(f"{path}: cannot read ({type(e).__name__}: {e})") from e


def _load_kernel(path: str, release: str | None) -> KernelInfo:
    if not os.path.lexists(path):
        raise KernelUnreadable(f"{path}: no such file or directory")
    if os.path.isdir(path):
        return load_tree(path, release)
    regular_file(path, path)
    with open(path, "rb") as f:
        head = f.read(8)
        if head == b"!<arch>\n":
            return load_deb(path)
        f.seek(0)
        data = f.read(MAX_IMAGE_BYTES)
    if data[:2] == b"\x1f\x8b":  # /proc/config.gz
        data = zlib.decompressobj(31).decompress(data, MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise KernelUnreadable(f"{path}: inflates to more than {MAX_CONFIG_BYTES >> 20} MiB: not a kernel config")
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
    if bzimage_release(data) is not None or extract_ikconfig(data) is not None:
        return load_bzimage(path, data)
    raise KernelUnreadable(f"{path}: not a kernel .deb, config file, IKCONFIG bzImage or kernel tree")
