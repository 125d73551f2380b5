"""A run's outputs written from its result: ``results.json``, ``junit.xml`` (checked against the Jenkins
schema) and ``report.html``, for ``swaplab run``, ``report`` and ``merge`` alike.

Each is written whole or not at all (``swaplab.atomic``: a temporary file beside it, then a rename, never
through a link), and the failure of one costs only that one, with a message: whatever a blade printed,
the others are written. ``write_outputs`` returns the names of those it could not write, so that a
command that was asked for them exits 2 instead of saying they were written.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from swaplab import atomic
from swaplab.report import html, junit
from swaplab.report.results import RunResult
from swaplab.rundir import JUNIT, REPORT, RESULTS
from swaplab.textsafe import visible

SCHEMA_XSD = Path(junit.__file__).with_name("junit-10.xsd")  # Jenkins xunit-plugin schema (MIT), vendored
Log = Callable[[str], None]


def write_outputs(run_dir: Path, result: RunResult, log: Log, results_too: bool = True) -> list[str]:
    """results.json first (unless it is the source), then junit.xml and report.html; the names of those that
    could not be written (empty when all were)."""
    failed: list[str] = []
    if results_too and not _output(run_dir / RESULTS, result.dumps, log):
        failed.append(RESULTS)

    def junit_xml() -> bytes:
        xml = junit.render(result.blades)
        problem = junit.validate(xml, SCHEMA_XSD)
        if problem:
            log(f"WARNING: junit.xml does not validate against {SCHEMA_XSD.name}: {visible(problem)}")
        return xml

    if not _output(run_dir / JUNIT, junit_xml, log):
        failed.append(JUNIT)

    def page() -> bytes:
        try:
            text = html.render(result, run_dir)
        except Exception as e:  # the page is the last output: its failure costs neither the verdict nor the others
            log(f"WARNING: report.html could not be rendered ({type(e).__name__}: {visible(str(e))}); junit.xml and "
                "results.json are whole; `swaplab report` renders it again")  # fmt: skip
            text = (f"<!doctype html><meta charset='utf-8'><title>swaplab run</title><p>swaplab could not render "
                    f"this page: {escape(type(e).__name__)}: {escape(str(e))}. The run's verdict: "
                    f"{escape(result.verdict)} (see junit.xml and results.json).</p>")  # fmt: skip
        return text.encode("utf-8", "backslashreplace")

    if not _output(run_dir / REPORT, page, log):
        failed.append(REPORT)
    return failed


def _output(path: Path, make: Callable[[], bytes], log: Log) -> bool:
    try:
        atomic.write_bytes(path, make())
    except Exception as e:
        log(f"WARNING: {path.name} could not be written ({type(e).__name__}: {visible(str(e))})")
        return False
    return True
