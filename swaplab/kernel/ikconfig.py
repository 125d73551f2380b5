"""A kernel's config from its image, as ``scripts/extract-ikconfig`` finds it: the IKCONFIG blob, raw or
inside the image's compressed payload; and the release a bzImage's header names. Every decompression is
capped (a 100 KB file can inflate to gigabytes). Pure: bytes in, text out."""

from __future__ import annotations

import bz2
import io
import lzma
import re
import struct
import zlib

_CONFIG_LINE_RE = re.compile(r"^(?:CONFIG_\w+=|# CONFIG_\w+ is not set)", re.M)
IKCFG_START, IKCFG_END = b"IKCFG_ST", b"IKCFG_ED"
MAX_CONFIG_BYTES = 8 << 20  # a real config is ~250 KB
MAX_INFLATED_BYTES = 256 << 20


def looks_like_config(text: str) -> bool:
    return len(_CONFIG_LINE_RE.findall(text[:200_000])) >= 5


def bzimage_release(data: bytes) -> str | None:
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


def _decompress_at(data: bytes, offset: int, algo: str, limit: int = MAX_INFLATED_BYTES) -> bytes:
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

            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)) as r:
                return r.read(limit)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError, ImportError, MemoryError):
        return b""
    return b""


def _ikconfig(blob: bytes) -> str | None:
    start = blob.find(IKCFG_START)
    while start >= 0:
        gz = start + len(IKCFG_START)
        try:
            raw = zlib.decompressobj(31).decompress(blob[gz : blob.find(IKCFG_END, gz)], MAX_CONFIG_BYTES)
            text = raw.decode("utf-8", "replace")
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
