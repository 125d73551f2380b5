"""The incremental kernel-log detector: one line in, zero or more findings out.

The same object serves a live console stream (the harness calls ``feed`` as
bytes arrive) and a file (``swaplab.detect.scan`` feeds it).  It keeps just
enough state to turn multi-line reports into one finding each:

- an OOM kill's "invoked oom-killer" header and its "Killed process" line are
  one event (the header's fields are attached to the kill);
- an oops header ("BUG: kernel NULL pointer dereference", "kernel BUG at") and
  the die line that follows it ("Oops: 0000 [#1]", "invalid opcode: 0000 [#1]")
  are one event;
- an NFS server's "not responding" and its "OK" give an outage duration.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from swaplab.detect.lines import ANSI_RE, Format, kernel_line, line_format
from swaplab.detect.rules import RULES, Rule, Severity

# A die line this many lines after its header belongs to the same oops.
OOPS_WINDOW_LINES = 40


@dataclass(slots=True)
class Finding:
    kind: str
    severity: Severity
    source: str
    line: int
    text: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Hexadecimal without a 0x (an address, an error code): kept as written, never read as a decimal number.
HEX_FIELDS = frozenset({"address", "ip", "error_code", "code"})


def _fields(m: re.Match[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in m.groupdict().items():
        if value is None or value == "":
            continue
        if name.endswith("2"):
            name = name[:-1]
        if name in ("memcg",):
            out[name] = True
        elif value.lstrip("-").isdigit() and name not in HEX_FIELDS:
            out[name] = int(value)
        else:
            out[name] = value
    return out


# Findings a detector keeps (an endless stream of oopses must not fill the controller's memory): past
# this, findings are counted by kind and severity (``dropped``), not kept.
MAX_KEPT_FINDINGS = 100_000


class Detector:
    """Feed kernel-log lines of one stream; get findings back as they happen."""

    def __init__(self, source: str, fmt: Format = "dmesg", per_line: bool = False) -> None:
        """``per_line``: every line is read in its own format (a log that mixes syslog, dmesg and kmsg)."""
        self.source = source
        self.fmt: Format = fmt
        self.per_line = per_line
        self.findings: list[Finding] = []
        self.dropped: Counter[tuple[str, str]] = Counter()  # (kind, severity) of findings past the cap
        self.lines = 0
        self._oom_header: dict[str, Any] | None = None
        self._oops_open_line: int | None = None
        self._nfs_down_since: dict[str, float | None] = {}

    def feed(self, line: str, lineno: int | None = None) -> list[Finding]:
        """Parse one line (CR, LF and ANSI escapes allowed); return its findings.

        ``lineno`` is the 1-based line number in the source; when omitted the
        detector counts the lines it is fed.
        """
        if lineno is None:
            self.lines += 1
            lineno = self.lines
        else:
            self.lines = max(self.lines, lineno)
        if "\x1b" in line:
            line = ANSI_RE.sub("", line)
        out: list[Finding] = []
        # A serial console ends lines with CR LF, and a lone CR rewrites the line:
        # every CR-separated segment is a line of its own.
        for segment in line.rstrip("\r\n").split("\r"):
            if segment:
                self._feed_segment(segment, lineno, out)
        room = MAX_KEPT_FINDINGS - len(self.findings)
        self.findings.extend(out[: max(0, room)])
        for f in out[max(0, room) :]:
            self.dropped[(f.kind, f.severity)] += 1
        return out

    def _feed_segment(self, segment: str, lineno: int, out: list[Finding]) -> None:
        kl = kernel_line(segment, line_format(segment) if self.per_line else self.fmt)
        if kl is None:
            return
        text = kl.text
        for rule in RULES:
            if rule.keyword not in text:
                continue
            m = rule.regex.match(text)
            if m is None:
                continue
            finding = self._apply(rule, m, text, lineno, kl.timestamp)
            if finding is not None:
                out.append(finding)
            return

    def _apply(self, rule: Rule, m: re.Match[str], text: str, lineno: int, ts: float | None) -> Finding | None:
        fields = _fields(m)
        if ts is not None:
            fields["timestamp"] = ts
        if rule.role == "oom_header":
            self._oom_header = fields
            return None
        if rule.role == "oops_die":
            open_line = self._oops_open_line
            self._oops_open_line = None
            if open_line is not None and lineno - open_line <= OOPS_WINDOW_LINES:
                return None  # the die line of an oops already reported by its header
        elif rule.role == "oops_header":
            self._oops_open_line = lineno
        elif rule.role == "nfs_down":
            self._nfs_down_since.setdefault(fields["server"], ts)
        elif rule.role == "nfs_up" and fields["server"] in self._nfs_down_since:
            since = self._nfs_down_since.pop(fields["server"])
            if since is not None and ts is not None:
                fields["outage_seconds"] = round(ts - since, 3)
        if rule.kind == "oom_kill" and self._oom_header is not None:
            header = self._oom_header
            self._oom_header = None
            for key in ("invoker", "gfp_mask", "order", "oom_score_adj"):
                if key in header:
                    fields[key] = header[key]
        return Finding(rule.kind, rule.severity, self.source, lineno, text, fields)

    def open_nfs_outages(self) -> dict[str, float | None]:
        """Servers reported not responding with no "OK" yet, and since when."""
        return dict(self._nfs_down_since)
