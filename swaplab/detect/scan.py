"""File front end of the detector: scan whole logs fast.

A log is read in large binary chunks.  One regex built from the rules'
keywords finds the few lines that could match any rule; only those lines are
decoded and fed to the same ``Detector`` the live path uses, with their true
line numbers.  Every rule's keyword is a literal its matches contain, so the
findings are the ones a line-by-line feed would give (a unit test holds the
two paths to that on every golden log).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from swaplab.detect.detector import Detector, Finding
from swaplab.detect.lines import ANSI_RE_BYTES, Format, sniff_format
from swaplab.detect.rules import KEYWORDS

CHUNK_BYTES = 32 << 20
SNIFF_LINES = 50
_PREFILTER = re.compile(b"|".join(re.escape(k.encode()) for k in KEYWORDS))


@dataclass
class ScanResult:
    source: str
    format: str
    lines: int = 0
    findings: list[Finding] = field(default_factory=list)


def _sniff(head: bytes) -> Format:
    lines = head.decode("utf-8", "replace").splitlines()[:SNIFF_LINES]
    return sniff_format(lines)


def scan_stream(stream: IO[bytes], source: str, fmt: str = "auto") -> ScanResult:
    """Scan a binary stream; ``fmt`` is auto, dmesg, console, kmsg or syslog."""
    first = stream.read(CHUNK_BYTES)
    resolved: Format = _sniff(first[: 1 << 16]) if fmt == "auto" else ("dmesg" if fmt == "console" else fmt)  # type: ignore[assignment]
    det = Detector(source, resolved)
    lineno = 0  # lines completed before the current chunk
    pending = b""
    chunk = first
    while True:
        data = pending + chunk
        if not chunk:
            if not data:
                break
            body, pending = data, b""
            lineno = _scan_chunk(det, body, lineno, final=True)
            break
        cut = data.rfind(b"\n") + 1
        body, pending = data[:cut], data[cut:]
        lineno = _scan_chunk(det, body, lineno, final=False)
        chunk = stream.read(CHUNK_BYTES)
    det.lines = lineno
    return ScanResult(source, "console" if fmt == "console" else resolved, lineno, det.findings)


def _scan_chunk(det: Detector, body: bytes, lineno: int, final: bool) -> int:
    """Feed the candidate lines of ``body`` (whole lines); return the new line count."""
    if not body:
        return lineno
    if b"\x1b" in body:
        body = ANSI_RE_BYTES.sub(b"", body)
    pos = 0  # position up to which newlines have been counted
    search = _PREFILTER.search
    m = search(body)
    while m is not None:
        start = body.rfind(b"\n", 0, m.start()) + 1
        end = body.find(b"\n", m.end())
        if end < 0:
            end = len(body)
        lineno += body.count(b"\n", pos, start)
        pos = start
        det.feed(body[start:end].decode("utf-8", "replace"), lineno + 1)
        m = search(body, end)
    lineno += body.count(b"\n", pos)
    if final and not body.endswith(b"\n"):
        lineno += 1
    return lineno


def scan_path(path: str, fmt: str = "auto") -> ScanResult:
    """Scan a file by path; ``-`` is standard input. Raises OSError if unreadable."""
    if path == "-":
        return scan_stream(sys.stdin.buffer, "-", fmt)
    with open(path, "rb") as f:
        return scan_stream(f, path, fmt)


def summarize(results: list[ScanResult]) -> dict[str, Any]:
    findings = [f for r in results for f in r.findings]
    return {
        "findings": [f.to_dict() for f in findings],
        "summary": {
            "fail": sum(f.severity == "fail" for f in findings),
            "warn": sum(f.severity == "warn" for f in findings),
            "info": sum(f.severity == "info" for f in findings),
            "by_kind": dict(sorted(Counter(f.kind for f in findings).items())),
        },
        "inputs": [{"source": r.source, "format": r.format, "lines": r.lines} for r in results],
    }
