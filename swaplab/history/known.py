"""Known issues: failures a lab has filed and accepts until a date, kept in a file beside the inventory
(``known-issues.yml``). A failing case that matches one is shown as expected, with its bug link, and is
not a regression; past its expiry it counts again (and the verdict says it expired).

    - case: "verdict::test_kernel_health"   # suite::name, shell-style pattern
      finding: "*hung_task*"                # optional: a pattern the failure's message must match
      blades: "r1-*"                        # optional: the blades it is known on
      bug: https://bugzilla.kernel.org/show_bug.cgi?id=123456
      expires: 2027-03-01

The file is untrusted input: bounded, a regular file, every entry checked, all problems reported at once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from swaplab.textsafe import shown
from swaplab.untrusted import UnsafeFile, read_inside

from .facts import HistoryInputError

FILE = "known-issues.yml"
MAX_BYTES = 256 << 10
MAX_ENTRIES = 500
URL_RE = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^\s]*)?", re.ASCII)
KEYS = {"case", "finding", "blades", "bug", "expires"}


@dataclass(frozen=True)
class KnownIssue:
    case: str
    bug: str
    expires: dt.date
    finding: str = "*"
    blades: str = "*"

    def matches(self, blade: str, case: str, message: str) -> bool:
        """Shell-style patterns where only ``*`` and ``?`` are special (case names hold brackets)."""
        return _glob(self.case, case) and _glob(self.blades, blade) and _glob(self.finding, message)


def _glob(pattern: str, text: str) -> bool:
    rx = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(rx, text, re.DOTALL) is not None


def load(path: Path) -> list[KnownIssue]:
    """The known issues in ``path`` (``HistoryInputError`` listing every problem)."""
    try:
        raw = read_inside(path.parent, path.name, MAX_BYTES)
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnsafeFile, UnicodeDecodeError, yaml.YAMLError) as e:
        raise HistoryInputError(
            f"{shown(str(path), 120)}: cannot read the known issues: {shown(str(e), 200)}"
        ) from None
    if doc is None:
        return []
    if not isinstance(doc, list) or len(doc) > MAX_ENTRIES:
        raise HistoryInputError(f"{shown(str(path), 120)}: a list of at most {MAX_ENTRIES} known issues is expected")
    out, problems = [], []
    for i, entry in enumerate(doc, 1):
        where = f"{shown(str(path), 120)}: entry {i}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a mapping")
            continue
        if extra := sorted(str(k) for k in entry if k not in KEYS):
            problems.append(f"{where}: unknown key(s) {shown(', '.join(extra), 80)}")
        strings = {k: entry.get(k) for k in ("case", "finding", "blades", "bug")}
        bad = [k for k, v in strings.items() if v is not None and (not isinstance(v, str) or not v or len(v) > 300)]
        if bad:
            problems.append(f"{where}: {', '.join(bad)} must be text of at most 300 characters")
            continue
        if not entry.get("case"):
            problems.append(f"{where}: no case (suite::name, a pattern)")
        if not isinstance(entry.get("bug"), str) or not URL_RE.fullmatch(entry["bug"]):
            problems.append(f"{where}: bug must be an http(s) link to the bug")
        expires = entry.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                expires = None
        if not isinstance(expires, dt.date):
            problems.append(f"{where}: expires must be a date (YYYY-MM-DD): a known issue is accepted until then")
            continue
        if not problems:
            out.append(
                KnownIssue(
                    case=entry["case"],
                    bug=entry["bug"],
                    expires=expires,
                    finding=entry.get("finding") or "*",
                    blades=entry.get("blades") or "*",
                )
            )
    if problems:
        raise HistoryInputError(problems)
    return out


def beside(inventory: str | None) -> Path | None:
    """The known-issues file beside an inventory, if there is one."""
    if not inventory:
        return None
    p = Path(inventory).parent / FILE
    return p if p.exists() else None
