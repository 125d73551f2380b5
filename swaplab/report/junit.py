"""JUnit XML for Jenkins (the xunit plugin's junit-10.xsd): one testsuite per blade (pure).

Kernel failures are ``<failure>``, infrastructure problems ``<error>``: their ``message`` is the first
problem, their text what happened (``model.account``); the test code's traceback is ``system-err``. Logs are
files in the run directory, referenced from each case's system-out with the
Jenkins attachments convention ``[[ATTACHMENT|path]]``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from swaplab.records import to_json
from swaplab.report.model import BladeResult, account, headline
from swaplab.textsafe import xml_text

MAX_TEXT = 20000


def _time(seconds: float) -> str:
    return f"{max(0.0, seconds):.3f}"


def _clean(text: str) -> str:
    """Only XML 1.0 characters (a console prints any): the others shown as escapes; cut to MAX_TEXT."""
    return xml_text(str(text), MAX_TEXT)


def render(blades: list[BladeResult], name: str = "swaplab") -> bytes:
    root = ET.Element("testsuites", name=_clean(name))
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for blade in blades:
        seconds = sum(c.seconds for c in blade.cases)
        suite = ET.SubElement(
            root, "testsuite", name=_clean(blade.name), hostname=_clean(blade.name), tests=str(len(blade.cases)),
            failures=str(blade.count("failed")), errors=str(blade.count("error")), skipped=str(blade.count("skipped")),
            time=_time(seconds),
        )  # fmt: skip
        props = ET.SubElement(suite, "properties")
        for key, value in sorted(blade.properties.items()):
            ET.SubElement(props, "property", name=_clean(key), value=_clean(str(value)))
        for case in blade.cases:
            tc = ET.SubElement(
                suite,
                "testcase",
                name=_clean(case.name),
                classname=_clean(f"{blade.name}.{case.suite}"),
                time=_time(case.seconds),
            )
            if case.outcome in ("failed", "error"):
                tag = "failure" if case.outcome == "failed" else "error"
                kind = "kernel" if tag == "failure" else "infrastructure"
                # For people: the message is the first problem, the body what happened (the problems, the
                # findings with their times and console); the test code's traceback goes to system-err.
                el = ET.SubElement(tc, tag, type=kind, message=_clean(headline(case)))
                el.text = _clean(account(case))
            elif case.outcome == "skipped":
                ET.SubElement(tc, "skipped", message=_clean(case.message)).text = _clean(case.details)
            out = []
            if case.records:
                out.append(json.dumps([to_json(r) for r in case.records], indent=1, sort_keys=True, default=str))
            out += [f"[[ATTACHMENT|{path}]]" for path in case.attachments]
            if out:
                ET.SubElement(tc, "system-out").text = _clean("\n".join(out))
            if case.details and case.outcome in ("failed", "error"):
                ET.SubElement(tc, "system-err").text = _clean(case.details)
        totals["tests"] += len(blade.cases)
        totals["failures"] += blade.count("failed")
        totals["errors"] += blade.count("error")
        totals["time"] += seconds
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", _time(float(totals["time"])))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def validate(xml: bytes, xsd: Path) -> str | None:
    """None if ``xml`` validates against ``xsd``; else the first problem (or why it cannot be checked). libxml2
    (lxml) checks it: a merged fleet's 60 MiB junit.xml in about a second."""
    from lxml import etree

    if not xsd.exists():
        return f"schema {xsd} not found"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    try:
        doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as e:
        return f"not well-formed XML: {e}"[:500]
    if schema.validate(doc):
        return None
    err = schema.error_log.last_error
    return f"line {err.line}: {err.message}"[:500] if err else "invalid"
