"""Turn one raw log line into the kernel message it carries, or None.

Pure functions, no I/O. Formats understood:

- ``dmesg``: plain ``dmesg``, ``dmesg -T``, ``dmesg -x``, ``dmesg -r``, ``dmesg -t``,
  ``--time-format iso`` and CONFIG_PRINTK_CALLER ``[T123]`` prefixes; also raw
  serial-console captures (CR line ends and ANSI escapes are removed, and a
  kernel timestamp in the middle of a line starts the kernel message).
- ``kmsg``: ``/dev/kmsg`` records ``level,seq,usec,flags;text``; the dictionary
  continuation lines that start with a space are dropped.
- ``syslog``: syslog and ``journalctl`` text (short and short-iso): only lines
  whose identifier is ``kernel`` count, so userspace programs that print
  kernel-like text never become findings; and PID 1's word that it crashed
  (``systemd[1]: Caught <SEGV>...``, which reaches the journal, not the
  console), read as the console would carry it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Format = Literal["dmesg", "kmsg", "syslog"]
FORMATS: tuple[str, ...] = ("auto", "dmesg", "console", "kmsg", "syslog")

ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
ANSI_RE_BYTES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")

KMSG_RE = re.compile(r"^(?P<level>\d+),(?P<seq>\d+),(?P<usec>\d+),[^;]*;(?P<msg>.*)$")
SYSLOG_RE = re.compile(
    r"^(?:<\d+>)?"
    r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"  # BSD syslog / journalctl short
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"  # short-iso, rsyslog
    r" (?P<host>\S+) (?P<ident>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)$"
)
_FACILITY_LEVEL = (
    r"(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local[0-7])\s*:"
    r"\s*(?:emerg|alert|crit|err|warn|notice|info|debug)\s*: "
)
_PREFIX_RE = re.compile(
    r"^(?:" + _FACILITY_LEVEL + r")?(?:<\d+>)?"
    r"(?:\[\s*(?P<ts>\d+\.\d+)\]"  # [   12.345678]
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \d{4}\]"  # dmesg -T
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d+[+-]\d\d:\d\d"  # dmesg --time-format iso
    r")?\s?(?:\[\s*[TC]\d+\]\s?)?"  # CONFIG_PRINTK_CALLER
)
PID1_CRASH = "Caught <"  # systemd's crash handler (src/core/crash-handler.c): the one PID 1 line read from a journal
_MIDLINE_TS_RE = re.compile(r"\[\s*(?P<ts>\d+\.\d{6})\]\s?(?:\[\s*[TC]\d+\]\s?)?")


@dataclass(frozen=True, slots=True)
class KernelLine:
    """The kernel's message text and its timestamp in seconds since boot, if known."""

    text: str
    timestamp: float | None


def sniff_format(lines: list[str]) -> Format:
    """Decide a stream's format from its first lines (``auto``)."""
    for raw in lines:
        line = ANSI_RE.sub("", raw).strip("\r\n")
        if not line.strip():
            continue
        if KMSG_RE.match(line):
            return "kmsg"
        if SYSLOG_RE.match(line):
            return "syslog"
    return "dmesg"


def _strip_prefix(line: str, midline: bool) -> KernelLine:
    m = _PREFIX_RE.match(line)
    ts = m.group("ts") if m else None
    text = line[m.end() :] if m else line
    if ts is None and midline:
        # A console line such as "login: [  123.456789] Out of memory: ..." carries
        # the kernel message after its timestamp.
        mm = _MIDLINE_TS_RE.search(text)
        if mm:
            return KernelLine(text[mm.end() :].rstrip(), float(mm.group("ts")))
    return KernelLine(text.rstrip(), float(ts) if ts else None)


def line_format(line: str) -> Format:
    """One line's own format, for a log that mixes them (``cat kern.log dmesg.txt``): a kmsg record, a
    syslog or journal line (whose identifier then decides), else a dmesg or console line."""
    if KMSG_RE.match(line):
        return "kmsg"
    if SYSLOG_RE.match(line):
        return "syslog"
    return "dmesg"


def kernel_line(line: str, fmt: Format) -> KernelLine | None:
    """Return the kernel message carried by one line (no CR/LF, no ANSI), or None."""
    if fmt == "kmsg":
        if line.startswith(" "):
            return None  # dictionary continuation: SUBSYSTEM=..., DEVICE=...
        m = KMSG_RE.match(line)
        if not m:
            return None
        return KernelLine(m.group("msg").rstrip(), int(m.group("usec")) / 1e6)
    if fmt == "syslog":
        m = SYSLOG_RE.match(line)
        if m and m.group("ident") == "systemd" and m.group("pid") == "1" and m.group("msg").startswith(PID1_CRASH):
            return KernelLine(f"systemd[1]: {m.group('msg').rstrip()}", None)
        if not m or m.group("ident") != "kernel":
            return None
        return _strip_prefix(m.group("msg"), midline=False)
    return _strip_prefix(line, midline=True)
