"""results.json: every figure of a run, for trends (pure). Bump SCHEMA when a field changes meaning."""

from __future__ import annotations

import time
from typing import Any

from swaplab import __version__
from swaplab.report.model import BladeResult

SCHEMA = 1


def build(
    blades: list[BladeResult],
    kernel: dict[str, Any],
    timings: dict[str, float],
    rc: int,
    options: dict[str, Any],
    provision_tasks: dict[str, float] | None = None,
) -> dict[str, Any]:
    total = timings.get("total", 0.0)
    boots = timings.get("lab_up", 0.0) + timings.get("blade_boot", 0.0)
    loads = timings.get("loads", 0.0)
    overhead = max(0.0, total - boots - loads)
    return {
        "schema": SCHEMA,
        "swaplab_version": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "exit_code": rc,
        "verdict": {0: "pass", 1: "kernel failure", 2: "infrastructure error"}.get(rc, "?"),
        "kernel": kernel,
        "options": {
            k: str(v) if not isinstance(v, int | float | bool | list | type(None)) else v for k, v in options.items()
        },
        "timings_s": {
            **timings,
            "boots": boots,
            "overhead": overhead,
            "overhead_pct": 100.0 * overhead / total if total else None,
        },
        # The slowest provisioning tasks ("play: task" -> seconds), where provisioning time goes.
        "provision_tasks_s": dict(sorted((provision_tasks or {}).items(), key=lambda kv: -kv[1])[:15]),
        "blades": [
            {
                "name": b.name,
                "properties": b.properties,
                "counts": {o: b.count(o) for o in ("passed", "failed", "error", "skipped")},
                "cases": [c.to_dict() for c in b.cases],
                "ratio": next((c.data for c in b.cases if "ratio" in c.data), None),
                "hog_trials": [
                    {k: c.data["hog"].get(k) for k in ("total_s", "swap_mib_per_s", "mib", "bad_pages")}
                    | {"trial": c.data.get("trial"), "store": c.data.get("store")}
                    for c in b.cases
                    if c.data.get("hog") and c.data.get("trial")
                ],
            }
            for b in blades
        ],
    }


def summary_text(doc: dict[str, Any]) -> str:
    lines = []
    for b in doc["blades"]:
        c = b["counts"]
        line = f"{b['name']}: {c['passed']} passed, {c['failed']} failed, {c['error']} error(s), {c['skipped']} skipped"
        r = b.get("ratio")
        if r:
            ci = f" [95% CI {r['ci95_low']:.2f}-{r['ci95_high']:.2f}]" if r.get("ci95_low") is not None else ""
            line += f"; NFS/NBD ratio {r['ratio']:.2f}{ci} (gate {r['gate']})"
        lines.append(line)
    t = doc["timings_s"]
    parts = [f"{k} {t[k]:.0f} s" for k in ("total", "lab_up", "provision", "blade_boot", "tests", "loads") if k in t]
    if t.get("overhead_pct") is not None:
        parts.append(f"overhead {t['overhead']:.0f} s ({t['overhead_pct']:.1f}%)")
    lines.append("timings: " + ", ".join(parts))
    lines.append(f"verdict: {doc['verdict']} (exit {doc['exit_code']})")
    return "\n".join(lines)
