"""Tell people only when something changed: Apprise notifications (mail, chat, webhooks), sent when tonight's
verdict differs from last night's, with the change, the blades and the two kernels.

The targets are Apprise URLs, one per line, in a file (``--notify FILE``) or in ``SWAPLAB_NOTIFY``. They hold
tokens and passwords: no message swaplab prints names a target, only its place in the list.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from swaplab.textsafe import shown
from swaplab.untrusted import UnsafeFile, read_inside

from .facts import HistoryInputError
from .verdict import METRIC_REGRESSIONS, REGRESSIONS, Verdict, render

NOTIFY_ENV = "SWAPLAB_NOTIFY"
MAX_BYTES = 64 << 10
MAX_TARGETS = 32


def targets(path: str | None) -> list[str]:
    """The Apprise URLs to notify: from the file, or the environment; ``HistoryInputError`` if unusable."""
    if path:
        p = Path(path)
        try:
            text = read_inside(p.parent, p.name, MAX_BYTES).decode("utf-8")
        except (UnsafeFile, UnicodeDecodeError) as e:
            raise HistoryInputError(f"--notify {shown(path, 120)}: cannot read it: {shown(str(e), 160)}") from None
    else:
        text = os.environ.get(NOTIFY_ENV, "")
    urls = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(urls) > MAX_TARGETS:
        raise HistoryInputError(f"{len(urls)} notification targets: at most {MAX_TARGETS}")
    import apprise

    bad = [i for i, u in enumerate(urls, 1) if apprise.Apprise.instantiate(u) is None]
    if bad:
        raise HistoryInputError(
            f"notification target(s) {', '.join(map(str, bad))} (by line) are not Apprise URLs "
            "Apprise knows: see its list of services"
        )
    return urls


def title(v: Verdict) -> str:
    t = v.tonight
    word = {1: "REGRESSION", 2: "infrastructure errors", 0: "changed"}[v.exit_code]
    return f"swaplab {t.lab} night {t.seq}: {word} on {t.kernel_text()}"[:200]


def body(v: Verdict) -> str:
    blades = sorted({c.blade for c in v.regressions})
    head = []
    if blades:
        head.append(
            f"regressed on {len(blades)} blade(s): {', '.join(blades[:20])}{' ...' if len(blades) > 20 else ''}"
        )
    goods = {c.last_good.kernel_text() for c in v.regressions if c.last_good}
    bads = {c.first_bad.kernel_text() for c in v.regressions if c.first_bad}
    if goods or bads:
        head.append(f"last good kernel: {', '.join(sorted(goods)) or '-'}; first bad: {', '.join(sorted(bads)) or '-'}")
    return "\n".join([*head, "", render(v)])


def send(v: Verdict, urls: list[str], log: object = print) -> list[int]:
    """Notify every target; the places (1-based) of those that failed. Nothing is sent for no URL."""
    if not urls:
        return []
    import apprise

    logging.getLogger("apprise").setLevel(logging.CRITICAL)  # its messages may quote a target's URL
    failed = []
    for i, url in enumerate(urls, 1):
        a = apprise.Apprise()
        a.add(url)
        if not a.notify(title=title(v), body=body(v)):
            failed.append(i)
    return failed


def worth_telling(v: Verdict, changed: bool) -> bool:
    """Only a verdict that differs from last night's, and says something: a regression, a fix, a flake, an
    infrastructure error."""
    said = any(
        c.state in (*REGRESSIONS, *METRIC_REGRESSIONS, "fixed", "flaky", "infrastructure", "improved")
        for c in v.changed()
    )
    return changed and said
