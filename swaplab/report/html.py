"""report.html: one self-contained page (no scripts, no external files), rendered from a template.

``render(result, run_dir)`` reads the typed result (``results.RunResult``) and, from the run
directory, each load's timeline (``<blade>/loads/<load>/samples.csv``); the figures are inline SVG
from ``plots``. Summary first (verdict, kernel, fleet, ratios), then per blade: the hog trials, fio,
the timelines with their findings marked, the findings with the console around each, the cases.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2

from swaplab.records import FaultRecord, FindingRecord, FioRun, HogTrial, LoadFigures, Recovery
from swaplab.report import timeline
from swaplab.report.compare import TOLERANCE_PCT, Comparison
from swaplab.report.merge import summary
from swaplab.report.model import OUTCOMES, BladeResult, account, headline
from swaplab.report.results import STOP_WORDS, RunResult, run_budget
from swaplab.rundir import LOAD_SAMPLES, NAS_SAMPLES, TIMINGS, load_dir

TEMPLATES = Path(__file__).with_name("templates")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")  # escape sequences whole, first
# Timelines drawn per blade: the hog trials and the hog beside fio (where swap is under load).
TIMELINE_PREFIXES = ("hog-", "fio-hog-")


def _environment() -> jinja2.Environment:
    """The templates, HTML-escaped, an undefined name an error (not an empty string)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.globals["stop_words"] = STOP_WORDS  # why the pairs stopped, in the words summary_text uses
    return env


def clean(text: str) -> str:
    """Console text without terminal escapes and control characters (kept: newline and tab)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n"))


def _findings(b: BladeResult) -> list[FindingRecord]:
    """Each finding once: one seen inside a load is kept over the same line seen in the whole run's log."""
    seen: dict[tuple[str, str], FindingRecord] = {}
    for f in b.of(FindingRecord):
        key = (f.kind, f.text)
        if key not in seen or (seen[key].load is None and f.load is not None):
            seen[key] = f
    return sorted(seen.values(), key=lambda f: (f.load is None, f.load or "", f.at_s or 0.0))


def _timelines(b: BladeResult, run_dir: Path | None, findings: list[FindingRecord]) -> list[dict[str, str]]:
    from swaplab.report import plots

    if run_dir is None:
        return []
    swap_total = {t.store: t for t in b.of(HogTrial)}
    out = []
    for load in b.of(LoadFigures):
        if not load.load.startswith(TIMELINE_PREFIXES):
            continue
        hog = swap_total.get(load.store or "")
        rel = load_dir(Path(), b.name, load.load) / LOAD_SAMPLES  # names from the run's own files: kept inside it
        tl = timeline.load(run_dir, rel, hog.swap_total_kib if hog else None)
        if len(tl) < 2:
            continue
        marks = [f for f in findings if f.load == load.load]
        title = f"{load.load} ({(load.store or 'all').upper()}, {load.status}, {load.wall_s:.0f} s)"
        out.append({"load": load.load, "svg": plots.timeline(tl, marks, title)})
    return out


def _blade(result: RunResult, b: BladeResult, run_dir: Path | None, plot: bool = True) -> dict[str, Any]:
    from swaplab.report import plots

    trials = sorted((t for t in b.of(HogTrial) if t.trial is not None), key=lambda t: (t.trial or 0, t.store))
    fio = b.of(FioRun)
    every = _findings(b)
    findings = [FindingRecord(**{**vars(f), "text": clean(f.text), "excerpt": clean(f.excerpt)})
                for f in every if f.severity != "info"]  # fmt: skip
    info = Counter(f.kind for f in every if f.severity == "info")
    # A failed case as JUnit has it (model.headline and account): the first problem, then what happened.
    cases = [{"suite": c.suite, "name": c.name, "outcome": c.outcome, "seconds": c.seconds,
              "message": clean(headline(c) if c.outcome in ("failed", "error") else c.message),
              "account": clean(account(c)) if c.outcome in ("failed", "error") else ""} for c in b.cases]  # fmt: skip
    return {
        "name": b.name,
        "ratio": result.ratio(b),
        "counts": {o: b.count(o) for o in OUTCOMES if b.count(o)},
        "trials": trials,
        "trials_svg": plots.trials(trials) if trials and plot else "",
        "fio": fio,
        "fio_svg": plots.fio(fio) if plot and any(not r.under_pressure for r in fio) else "",
        "timelines": _timelines(b, run_dir, findings) if plot else [],
        "findings": findings,
        "info_findings": ", ".join(f"{n} {k}" for k, n in sorted(info.items())),
        "faults": b.of(FaultRecord),
        "recoveries": b.of(Recovery),
        "cases": cases,
    }


# A page with more blades than this (a merged fleet) leaves out the per-blade plots: each costs ~0.3 s to draw
# and the page would carry thousands; every rack's own report has them.
MAX_PLOTTED_BLADES = 32


def _num(x: object) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) and abs(x) < 1e12 else None


def _kernel(x: object) -> str:
    return str(x.get("kernel", "?"))[:80] if isinstance(x, dict) else "none in the history"


def changes(doc: object, plot: bool = True) -> dict[str, Any] | None:
    """The history's verdict (results.json's ``changes``, untrusted when read back) as the page's first
    section: one line per change, the regressions first, and each blade's ratio over the nights."""
    from swaplab.report import plots

    if not isinstance(doc, dict):
        return None
    lines: list[tuple[str, str]] = []  # (state, text)
    for c in doc.get("cases", []) if isinstance(doc.get("cases"), list) else []:
        if not isinstance(c, dict):
            continue
        span = (f"; last good {_kernel(c.get('last_good'))}, first bad {_kernel(c.get('first_bad'))}"
                if c.get("first_bad") and c.get("state") != "fixed" else "")  # fmt: skip
        link = f" ({c.get('bug')})" if c.get("bug") else ""
        lines.append((str(c.get("state", "?"))[:20], f"{str(c.get('blade', '?'))[:80]} {str(c.get('case', '?'))[:200]}"
                      f"{link}: {clean(str(c.get('message', '')))[:300]}{span}"))  # fmt: skip
    trends: list[dict[str, str]] = []
    for m in doc.get("metrics", []) if isinstance(doc.get("metrics"), list) else []:
        if not isinstance(m, dict):
            continue
        state, pct = str(m.get("state", "?"))[:20], _num(m.get("change_pct"))
        if state not in ("steady", "too-few"):
            span = f"; last good {_kernel(m.get('last_good'))}, first bad {_kernel(m.get('first_bad'))}"
            lines.append((state, f"{str(m.get('blade', '?'))[:80]} {str(m.get('metric', '?'))[:120]}"
                          + (f" {pct:+.1f}%" if pct is not None else "") + span))  # fmt: skip
        trend = m.get("trend")
        raw: list[Any] = trend if isinstance(trend, list) else []
        points = [(int(p[0]), v, _num(p[2]), _num(p[3])) for p in raw[:1000] if isinstance(p, list) and len(p) == 4
                  and isinstance(p[0], int) and (v := _num(p[1])) is not None]  # fmt: skip
        if plot and len(points) >= 2 and len(trends) < 32:
            first = m.get("first_bad") if state not in ("steady", "too-few") else None
            at = first.get("night") if isinstance(first, dict) and isinstance(first.get("night"), int) else None
            label = f"{str(m.get('blade', '?'))[:60]} {str(m.get('metric', '?'))[:60]}"
            trends.append({"label": label, "svg": plots.trend(label, points, at)})
    order = ("new-failure", "new-regression", "still-failing", "regressed", "infrastructure", "flaky", "known-issue")
    lines.sort(key=lambda x: order.index(x[0]) if x[0] in order else len(order))
    tonight: dict[str, Any] = doc["tonight"] if isinstance(doc.get("tonight"), dict) else {}
    return {"lines": lines, "trends": trends, "night": tonight.get("night"), "lab": str(tonight.get("lab", ""))[:80],
            "regressions": _num(doc.get("regressions")) or 0, "last": _kernel(doc.get("last_night")),
            "release": _kernel(doc.get("release")) if doc.get("release") else None}  # fmt: skip


def render(result: RunResult, run_dir: Path | None = None) -> str:
    env = _environment()
    blades = list(result.blades)
    plot = sum(b.name != "run" for b in blades) <= MAX_PLOTTED_BLADES
    props = next((b.properties for b in blades if b.properties), {})
    t = result.to_json()["timings_s"]
    timings = [(k, f"{t[k]:.0f} s") for k in TIMINGS if k in t]
    if t.get("overhead_pct") is not None:
        timings.append(("overhead", f"{t['overhead_pct']:.0f}%"))
    o = result.options
    if (spent := run_budget(result)) is not None:
        total, budget = spent
        timings.append(("run budget", f"{total:.0f} s of {budget} s" + (" (OVER)" if total > budget else "")))
    host = o.get("machine", {}).get("host") if isinstance(o.get("machine"), dict) else None
    if isinstance(host, dict) and isinstance(host.get("hash_mib_s"), int | float):
        timings.append(("machine", f"{host.get('cpus')} core(s), {host['hash_mib_s']:g} MiB/s SHA-256 per core"))
    options = ", ".join(f"{k} {o[k]}" for k in ("trials", "working_set", "ratio_gate", "fio_size_mib", "suites")
                        if k in o)  # fmt: skip
    memory = {str(t.mem_total_kib // 1024) for b in blades for t in b.of(HogTrial) if t.mem_total_kib}
    fleet = [b.name for b in blades if b.name != "run"]
    if memory:
        fleet = [f"{', '.join(fleet)} ({'/'.join(sorted(memory))} MiB RAM each)"]
    nas_svg = ""
    if run_dir is not None and (run_dir / NAS_SAMPLES).is_file():
        from swaplab.report import plots

        nas_tl = timeline.parse_nas(timeline.read(run_dir, NAS_SAMPLES))
        nas_svg = plots.nas(nas_tl) if len(nas_tl) >= 2 else ""
    return env.get_template("report.html.j2").render(
        r=result, blades=[_blade(result, b, run_dir, plot) for b in blades], fleet=fleet, nas=props.get("nas", ""),
        commit=props.get("swaplab.commit", ""), options=options, timings=timings, nas_svg=nas_svg,
        racks=summary(result), plotted=plot, max_plotted=MAX_PLOTTED_BLADES, changes=changes(result.changes, plot),
    )  # fmt: skip


def render_compare(cmp: Comparison, base: RunResult, cand: RunResult) -> str:
    """The comparison as a page: the verdict, every difference or change, the gated ones first."""
    env = _environment()
    changes = sorted(cmp.changes, key=lambda c: (not c.gated, c.blade, c.metric))
    return env.get_template("compare.html.j2").render(
        c=cmp, doc=cmp.to_json(), changes=changes, base=base, cand=cand, tolerance=TOLERANCE_PCT
    )
