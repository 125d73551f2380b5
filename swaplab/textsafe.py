"""Text from untrusted places (a blade's console, a package's member names, a run directory) made safe
for where it goes: XML 1.0 (``xml_text``) and a terminal or a log line (``visible``). Pure.

Both keep what they can read and show what they cannot as an escape (``\\x07``, ``\\ufffe``,
``\\udc80``), so a release engineer still sees that something odd was printed, and no output can be
lost to it or forged by it.
"""

from __future__ import annotations

import re

# XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# C0 (but tab and newline), DEL, C1, lone surrogates, and U+FFFE/U+FFFF: shown, never passed on.
_NOT_VISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NOT_VISIBLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_text(text: str, limit: int | None = None) -> str:
    """``text`` with every character XML 1.0 cannot hold shown as an escape (and cut to ``limit``)."""
    out = _NOT_XML.sub(_escape, text)
    return out if limit is None else out[:limit]


def visible(text: str, one_line: bool = False) -> str:
    """``text`` with C0, DEL and C1 controls (tab and newline kept, unless ``one_line``) and characters
    no encoder takes shown as escapes: nothing printed from a kernel, a package or a log can move the
    cursor, change the terminal or forge a line of swaplab's own."""
    return (_NOT_VISIBLE_LINE if one_line else _NOT_VISIBLE).sub(_escape, text)


SHOWN_LIMIT = 200


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """A value read from a file (a kernel release, an option, a finding's kind, a path), as a message or a
    terminal shows it: ``visible`` on one line, cut to ``limit`` characters (an ellipsis says it was cut).
    Every string from a run directory, a journal or an inventory that reaches a terminal goes through this."""
    text = visible(str(value), one_line=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
