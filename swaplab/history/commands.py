"""``swaplab history``: ingest runs, pin the release baseline, and print the nights, a trend and a verdict.

Every subcommand opens the history named by ``--history`` (or ``SWAPLAB_HISTORY``). Exit codes as a run's:
``verdict`` 0 no regression (known issues included), 1 a regression (a new or continuing failure, a
metric's step), 2 infrastructure errors alone or a problem with the input; the others 0 or 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from swaplab import errors
from swaplab.textsafe import shown

from . import known as known_issues
from .facts import HistoryInputError, base_metric, night_of
from .store import MAX_NIGHTS_SHOWN, WINDOW, History, target
from .verdict import JUDGED_METRICS, Verdict, digest_json, judge, render


def add_parser(sub: Any) -> None:
    h = sub.add_parser("history", help="the nights remembered: ingest runs, pin a baseline, show what changed")
    hs = h.add_subparsers(dest="history_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser, lab: bool = True) -> None:
        p.add_argument(
            "--history",
            metavar="PATH|URL",
            help="a SQLite file, or a postgresql:// URL without its "
            "password (default: $SWAPLAB_HISTORY; the password from $SWAPLAB_HISTORY_PASSWORD)",
        )
        if lab:
            p.add_argument("--lab", help="the lab (default: the only one in the history)")

    i = hs.add_parser("ingest", help="store runs given after the fact, in the order given, each a night")
    i.add_argument("runs", metavar="RUN_DIR", nargs="+", help="run directories or merged sign-offs")
    common(i)
    i.add_argument("--label", help="a label for these nights (nightly, v6.1-rc3)")
    i.add_argument("--kernel-commit", help="the kernel's git commit")
    i.add_argument("--known-issues", metavar="FILE", help="the known-issues file (default: none)")
    i.set_defaults(history_func=_ingest)

    b = hs.add_parser("baseline", help="pin the release baseline to a night (default: the latest)")
    common(b)
    b.add_argument("--night", type=int, help="the night's number (see `history show`)")
    b.add_argument("--name", default="release", help="the baseline's name (default release)")
    b.set_defaults(history_func=_baseline)

    s = hs.add_parser("show", help="the nights, newest last, with their kernels and verdicts")
    common(s)
    s.add_argument("--nights", type=int, default=30, help=f"how many (default 30, at most {MAX_NIGHTS_SHOWN})")
    s.add_argument("--json", action="store_true")
    s.set_defaults(history_func=_show)

    t = hs.add_parser("trend", help="one metric of one blade, night by night, with its change points")
    common(t)
    t.add_argument("--blade", help="the blade (default: every blade)")
    t.add_argument("--metric", default="ratio", help="ratio, hog.nfs.s, hog.nbd.s, fio... (default ratio)")
    t.add_argument(
        "--nights", type=int, default=WINDOW, help=f"how many (default {WINDOW}, at most {MAX_NIGHTS_SHOWN})"
    )
    t.add_argument("--json", action="store_true")
    t.set_defaults(history_func=_trend)

    v = hs.add_parser("verdict", help="what changed on the latest night; exits as a run would")
    common(v)
    v.add_argument("--known-issues", metavar="FILE", help="the known-issues file (default: none)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(history_func=_verdict)
    h.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        with History(target(args.history)) as h:
            rc: int = args.history_func(h, args)
            return rc
    except errors.SwaplabError as e:
        print(f"swaplab history {args.history_command}: " + "\n  ".join(e.problems), file=sys.stderr)
        return e.exit_code


def lab_in(h: History, given: str | None) -> str:
    """The lab a command judges: the one given (it must be in the history), else the history's only one."""
    labs = h.labs()
    if given:
        if given not in labs:
            raise HistoryInputError(
                f"--lab {shown(given, 80)}: not in the history (it has: {', '.join(labs) or 'no night yet'})"
            )
        return given
    if len(labs) != 1:
        raise HistoryInputError(f"the history has {len(labs)} labs ({', '.join(labs) or 'none'}): give --lab")
    return labs[0]


def known_in(path: str | None) -> list[known_issues.KnownIssue]:
    """The known issues a verdict excuses: the file given, or none."""
    return known_issues.load(Path(path)) if path else []


def verdict_for(h: History, lab: str, known: list[known_issues.KnownIssue], seq: int | None = None) -> Verdict:
    """The verdict on night ``seq`` of ``lab`` (default its latest), from the window of nights before it."""
    nights = h.nights(lab, WINDOW, upto_seq=seq)
    if not nights:
        raise HistoryInputError(f"lab {shown(lab, 80)} has no night yet: ingest a run first")
    data = h.series(lab, [n.id for n in nights], metrics=lambda name: base_metric(name) in JUDGED_METRICS)
    release = h.baseline(lab)
    return judge(
        nights,
        data,
        known,
        release if release and release.seq <= nights[-1].seq else None,
        today=dt.date.today().isoformat(),
    )


def ingest(
    h: History,
    run_dir: Path,
    lab: str | None,
    label: str | None,
    commit: str | None,
    known: list[known_issues.KnownIssue],
    hw_classes: dict[str, str] | None = None,
) -> tuple[Verdict, bool]:
    """Store one run and judge it: (its verdict, whether the verdict differs from the night before's)."""
    night = night_of(run_dir, lab, label, commit, hw_classes)
    night_id, new = h.ingest(night)
    seq = next(n.seq for n in h.nights(night.lab, WINDOW) if n.id == night_id)
    v = verdict_for(h, night.lab, known, seq=seq)
    if not new:  # the same run again: already judged, nothing new to tell
        return v, False
    before = h.verdict_of(v.last_night.id) if v.last_night else None
    h.save_verdict(night_id, v.digest, digest_json(v))
    return v, (before[0] if before else None) != v.digest


def _ingest(h: History, args: argparse.Namespace) -> int:
    known = known_in(args.known_issues)
    dirs = [Path(r) for r in args.runs]
    for d in dirs:  # every run read and checked before any is stored
        night_of(d, args.lab, args.label, args.kernel_commit)
    for d in dirs:
        v, _changed = ingest(h, d, args.lab, args.label, args.kernel_commit, known)
        print(
            f"{shown(str(d), 120)}: night {v.tonight.seq} of lab {v.tonight.lab}, kernel "
            f"{v.tonight.kernel_text()}: {len(v.regressions)} regression(s), {len(v.changed())} change(s)"
        )
    return 0


def _json(args: argparse.Namespace, doc: dict[str, Any]) -> bool:
    """With ``--json``, print ``doc`` as JSON and say so."""
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    return bool(args.json)


def _baseline(h: History, args: argparse.Namespace) -> int:
    lab = lab_in(h, args.lab)
    ref = h.pin(lab, shown(args.name, 60), args.night)
    print(f"baseline {shown(args.name, 60)} of lab {lab}: night {ref.seq}, kernel {ref.kernel_text()}")
    return 0


def _show(h: History, args: argparse.Namespace) -> int:
    lab = lab_in(h, args.lab)
    nights = h.nights(lab, args.nights)
    release = h.baseline(lab)
    rows = []
    for n in nights:
        stored = h.verdict_of(n.id)
        try:
            body = json.loads(stored[1]) if stored else {}
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        rows.append(
            n.to_json()
            | {
                "regressions": body.get("regressions"),
                "verdict_exit": body.get("exit_code"),
                "release": bool(release and release.id == n.id),
            }
        )
    if _json(args, {"lab": lab, "nights": rows}):
        return 0
    for r in rows:
        mark = "  <- release" if r["release"] else ""
        regs = "" if r["regressions"] is None else f"  {r['regressions']} regression(s)"
        print(
            f"{r['night']:>5}  {r['finished']}  {shown(r['kernel'], 60)}  {shown(r['label'] or '', 30)}  "
            f"exit {r['exit_code']}{regs}{mark}"
        )
    return 0


def _trend(h: History, args: argparse.Namespace) -> int:
    from .changepoint import last_shift
    from .facts import higher_is_worse

    lab = lab_in(h, args.lab)
    nights = h.nights(lab, args.nights)
    data = h.series(lab, [n.id for n in nights])
    out: list[dict[str, Any]] = []
    for sid, name in sorted(data.names.items(), key=lambda kv: (kv[1].blade, kv[1].name)):
        if name.kind != "metric" or base_metric(name.name) != args.metric or (args.blade and name.blade != args.blade):
            continue
        points = [(n, data.metrics[(sid, n.id)]) for n in nights if (sid, n.id) in data.metrics]
        shift = last_shift([m.samples or (m.value,) for _, m in points], higher_is_worse(name.name))
        out.append(
            {
                "rack": name.rack,
                "blade": name.blade,
                "metric": name.name,
                "change_point_night": points[shift.start][0].seq if shift else None,
                "nights": [
                    {
                        "night": n.seq,
                        "kernel": n.release,
                        "value": m.value,
                        "ci95_low": m.ci95_low,
                        "ci95_high": m.ci95_high,
                        "samples": list(m.samples),
                    }
                    for n, m in points
                ],
            }
        )
    if not out:
        raise HistoryInputError(
            f"no series {shown(args.metric, 60)!r}"
            + (f" on blade {shown(args.blade, 60)}" if args.blade else "")
            + " in the history: see `history verdict --json`"
        )
    if _json(args, {"lab": lab, "series": out}):
        return 0
    for s in out:
        print(f"{s['rack']}/{s['blade']} {s['metric']}")
        for p in s["nights"]:
            ci = f" ({p['ci95_low']:.3g}-{p['ci95_high']:.3g})" if p["ci95_low"] and p["ci95_high"] else ""
            mark = "  <- change point" if p["night"] == s["change_point_night"] else ""
            print(f"  {p['night']:>5}  {shown(p['kernel'], 40):<24} {p['value']:.4g}{ci}{mark}")
    return 0


def _verdict(h: History, args: argparse.Namespace) -> int:
    lab = lab_in(h, args.lab)
    v = verdict_for(h, lab, known_in(args.known_issues))
    if not _json(args, v.to_json()):
        print(render(v))
    return v.exit_code
