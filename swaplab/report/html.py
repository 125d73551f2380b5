"""report.html: one self-contained page (no scripts, no external files) with the run's verdict and plots (pure)."""

from __future__ import annotations

from html import escape

from swaplab.records import HogTrial, RatioRecord
from swaplab.report.results import RunResult

COLORS = {"nfs": "#c0392b", "nbd": "#2471a3"}
OUTCOME_COLORS = {"passed": "#1e8449", "failed": "#c0392b", "error": "#b9770e", "skipped": "#7f8c8d"}


def _bars(trials: list[HogTrial], width: int = 560, bar_h: int = 18) -> str:
    """A horizontal bar per hog trial (seconds), coloured by store."""
    if not trials:
        return "<p>No hog trial finished.</p>"
    top = max(t.total_s or 0 for t in trials) or 1.0
    rows = []
    for i, t in enumerate(trials):
        w = int((width - 160) * (t.total_s or 0) / top)
        y = i * (bar_h + 6)
        label = f"t{t.trial} {t.store}"
        rows.append(
            f'<text x="0" y="{y + 13}" font-size="12">{escape(label)}</text>'
            f'<rect x="70" y="{y}" width="{w}" height="{bar_h}" fill="{COLORS.get(t.store, "#555")}"/>'
            f'<text x="{74 + w}" y="{y + 13}" font-size="12">'
            f"{t.total_s or 0:.0f} s, {t.swap_mib_per_s or 0:.1f} MiB/s</text>"
        )
    height = len(trials) * (bar_h + 6)
    return f'<svg width="{width}" height="{height}" role="img" aria-label="hog trial times">{"".join(rows)}</svg>'


def _ratio(r: RatioRecord | None) -> str:
    if not r:
        return "<p>No ratio (no complete NFS/NBD pair).</p>"
    ci = (f"95% CI {r.ci95_low:.2f} – {r.ci95_high:.2f} (±{r.ci95_half_width_pct or 0:.1f}%)"
          if r.ci95_low is not None and r.ci95_high is not None else "one pair: no interval")  # fmt: skip
    verdict = "within" if r.ratio <= r.gate else "ABOVE"
    return f"<p><b>NFS/NBD time ratio {r.ratio:.2f}</b>, {ci}; {verdict} the gate {r.gate}.</p>"


def render(result: RunResult) -> str:
    doc = result.to_json()
    out = [
        "<!doctype html><html><head><meta charset='utf-8'><title>swaplab run</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto}td,th{padding:2px 8px;text-align:left}"
        "table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}pre{white-space:pre-wrap}</style>",
        "</head><body>",
        f"<h1>swaplab run: {escape(doc['verdict'])}</h1>",
        f"<p>Kernel {escape(str(doc['kernel'].get('release', '?')))}; finished {escape(doc['finished'])}; "
        f"exit {doc['exit_code']}.</p>",
    ]
    t = doc["timings_s"]
    out.append("<h2>Time</h2><table>" + "".join(
        f"<tr><th>{escape(k)}</th><td>{v:.0f}{'%' if k.endswith('pct') else ' s'}</td></tr>"
        for k, v in t.items() if isinstance(v, int | float)
    ) + "</table>")  # fmt: skip
    for b in result.blades:
        out.append(f"<h2>{escape(b.name)}</h2>")
        out.append(_ratio(result.ratio(b)))
        out.append(_bars([t for t in b.of(HogTrial) if t.trial is not None]))
        out.append("<table><tr><th>case</th><th>outcome</th><th>s</th><th>message</th></tr>")
        for c in b.cases:
            color = OUTCOME_COLORS.get(c.outcome, "#000")
            out.append(
                f"<tr><td>{escape(c.suite)}: {escape(c.name)}</td>"
                f"<td style='color:{color}'><b>{escape(c.outcome)}</b></td><td>{c.seconds:.0f}</td>"
                f"<td><pre>{escape(c.message[:600])}</pre></td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)
