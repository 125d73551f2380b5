"""Report writers: JUnit validates against the Jenkins schema, failure vs error, exit codes, results.json."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from swaplab.report import html, junit, results
from swaplab.report.model import BladeResult, Case, exit_code

XSD = Path(junit.__file__).with_name("junit-10.xsd")


def _blades() -> list[BladeResult]:
    ok = BladeResult("blade1", {"kernel.release": "6.1.0-56-amd64", "ratio.nfs_nbd": "1.700"})
    ok.cases = [
        Case("blade1", "provision", "provision", "passed", 300.0),
        Case("blade1", "loads", "test_hog[t1-nfs]", "passed", 120.5,
             data={"trial": 1, "store": "nfs", "hog": {"total_s": 120.0, "swap_mib_per_s": 7.1, "mib": 500,
                                                        "bad_pages": 0}},
             attachments=["/r/blade1/loads/hog-t1-nfs/console.log"]),
        Case("blade1", "loads", "test_hog[t1-nbd]", "failed", 80.0,
             message="rcu_stall (blade1:console:12): rcu: INFO: rcu_preempt self-detected stall on CPU\x1b[0m\x07",
             details="console tail \x00\x1b[31m red"),
        Case("blade1", "verdict", "test_nfs_nbd_ratio", "passed", 0.1,
             data={"ratio": 1.7, "ci95_low": 1.6, "ci95_high": 1.8, "ci95_half_width_pct": 5.9, "gate": 2.5}),
    ]  # fmt: skip
    down = BladeResult("blade2")
    down.cases = [Case("blade2", "provision", "provision", "error", 200.0, message="blade2: Wait for ssh: UNREACHABLE")]
    return [ok, down]


def test_junit_validates_and_separates_failures_from_errors() -> None:
    xml = junit.render(_blades())
    assert junit.validate(xml, XSD) is None
    root = ET.fromstring(xml)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"blade1", "blade2"}  # one testsuite per blade
    b1, b2 = suites["blade1"], suites["blade2"]
    assert (b1.get("tests"), b1.get("failures"), b1.get("errors")) == ("4", "1", "0")
    assert (b2.get("failures"), b2.get("errors")) == ("0", "1")
    assert b1.find("testcase[@name='test_hog[t1-nbd]']/failure").get("type") == "kernel"
    assert b2.find("testcase/error").get("type") == "infrastructure"
    props = {p.get("name"): p.get("value") for p in b1.iter("property")}
    assert props["kernel.release"] == "6.1.0-56-amd64"
    out = b1.find("testcase[@name='test_hog[t1-nfs]']/system-out").text
    assert "[[ATTACHMENT|/r/blade1/loads/hog-t1-nfs/console.log]]" in out
    assert b1.find("testcase[@name='test_hog[t1-nbd]']").get("classname") == "blade1.loads"
    assert "\x00" not in xml.decode() and "\x1b" not in xml.decode()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")


def test_the_validator_rejects_what_jenkins_would() -> None:
    bad = b'<?xml version="1.0"?><testsuites><testsuite name="x"><testcase name="a"/></testsuite></testsuites>'
    assert junit.validate(bad, XSD)  # tests/failures/errors are required on a testsuite


def test_exit_codes() -> None:
    blades = _blades()
    assert exit_code(blades) == 1  # a kernel failure wins over an infrastructure error elsewhere
    blades[0].cases[2].outcome = "passed"
    assert exit_code(blades) == 2
    assert exit_code(blades[:1]) == 0
    assert exit_code([]) == 2 and exit_code([BladeResult("b")]) == 2  # no test is never green


def test_results_json_and_html() -> None:
    doc = results.build(_blades(), {"release": "6.1.0-56-amd64"}, {"total": 1000.0, "lab_up": 60.0,
                        "blade_boot": 180.0, "loads": 700.0}, 1, {"trials": 3})  # fmt: skip
    assert doc["schema"] == results.SCHEMA
    assert doc["timings_s"]["overhead"] == 60.0 and doc["timings_s"]["overhead_pct"] == 6.0
    b1 = doc["blades"][0]
    assert b1["ratio"]["ratio"] == 1.7
    assert b1["hog_trials"] == [{"total_s": 120.0, "swap_mib_per_s": 7.1, "mib": 500, "bad_pages": 0,
                                 "trial": 1, "store": "nfs"}]  # fmt: skip
    json.dumps(doc)
    text = results.summary_text(doc)
    assert "NFS/NBD ratio 1.70 [95% CI 1.60-1.80]" in text and "verdict: kernel failure (exit 1)" in text
    page = html.render(doc)
    assert "<svg" in page and "1.70" in page and "\x1b" not in page.split("<pre>")[0]
