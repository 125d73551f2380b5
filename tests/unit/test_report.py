"""Report writers: JUnit validates against the Jenkins schema, failure vs error, exit codes, results.json."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from swaplab.records import Facts, FindingRecord, HogTrial, LoadFigures, RatioRecord
from swaplab.report import html, junit, results
from swaplab.report.model import BladeResult, Case, exit_code
from swaplab.report.results import KernelRecord, RunResult

XSD = Path(junit.__file__).with_name("junit-10.xsd")


RATIO = RatioRecord(
    ratio=1.7,
    ci95_low=1.6,
    ci95_high=1.8,
    ci95_half_width_pct=5.9,
    pairs=3,
    per_pair=(1.6, 1.7, 1.8),
    gate=2.5,
    nfs_s=(120.0, 121.0, 119.0),
    nbd_s=(70.0, 71.0, 69.0),
)
STALL = FindingRecord(
    kind="rcu_stall",
    severity="fail",
    line=12,
    source="blade1:console",
    text="rcu: INFO: rcu_preempt self-detected stall on CPU",
    kernel_time_s=355.2,
    at_s=42.0,
    load="hog-t1-nbd",
    excerpt="[  355.2] rcu: INFO: rcu_preempt self-detected stall on CPU",
)


def _blades() -> list[BladeResult]:
    ok = BladeResult("blade1", {"kernel.release": "6.1.0-56-amd64", "ratio.nfs_nbd": "1.700"})
    ok.cases = [
        Case("blade1", "provision", "provision", "passed", 300.0, records=[Facts({"changed": 0})]),
        Case("blade1", "hog", "test_hog[t1-nfs]", "passed", 120.5,
             records=[LoadFigures(load="hog-t1-nfs", store="nfs", status="done", rc=0, wall_s=120.5, prep_s=1.0,
                                  load_s=118.0),
                      HogTrial(store="nfs", trial=1, status="done", total_s=120.0, swap_mib_per_s=7.1, mib=500)],
             attachments=["/r/blade1/loads/hog-t1-nfs/console.log"]),
        Case("blade1", "hog", "test_hog[t1-nbd]", "failed", 80.0,
             message="rcu_stall (blade1:console:12): rcu: INFO: rcu_preempt self-detected stall on CPU\x1b[0m\x07",
             details="console tail \x00\x1b[31m red", records=[STALL]),
        Case("blade1", "verdict", "test_nfs_nbd_ratio", "passed", 0.1, records=[RATIO]),
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
    assert b1.find("testcase[@name='test_hog[t1-nbd]']").get("classname") == "blade1.hog"  # the suite's one name
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


def _result() -> RunResult:
    return RunResult(exit_code=1, kernel=KernelRecord(release="6.1.0-56-amd64", sha256="a" * 64, file="k.deb",
                     kind="deb"), blades=_blades(), options={"trials": 3},
                     timings_s={"total": 1000.0, "lab_up": 60.0, "blade_boot": 180.0, "loads": 700.0})  # fmt: skip


def test_results_json_follows_its_schema_and_reads_back(tmp_path: Path) -> None:
    result = _result()
    result.save(tmp_path / "results.json")
    doc = json.loads((tmp_path / "results.json").read_text())
    schema = json.loads(results.SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)
    assert doc["schema"] == results.SCHEMA
    assert doc["timings_s"]["overhead"] == 60.0 and doc["timings_s"]["overhead_pct"] == 6.0
    b1 = doc["blades"][0]
    assert b1["ratio"]["ratio"] == 1.7 and b1["findings"][0]["at_s"] == 42.0
    assert [t["total_s"] for t in b1["hog_trials"]] == [120.0]
    back = RunResult.load(tmp_path / "results.json")  # what `swaplab report` and `compare` read
    # An attachment outside the run directory (/r/...) is not carried back: a run directory is untrusted.
    assert [a for b in back.blades for c in b.cases for a in c.attachments] == []
    for b in result.blades:
        for c in b.cases:
            c.attachments = []
    assert back.blades == result.blades and back.kernel == result.kernel and back.exit_code == 1
    assert back.ratio(back.blades[0]) == RATIO


def test_the_schema_refuses_what_a_trend_tool_could_not_read() -> None:
    schema = json.loads(results.SCHEMA_FILE.read_text())
    doc = _result().to_json()
    doc["blades"][0]["cases"][1]["records"][1]["total_s"] = "fast"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    doc = _result().to_json()
    doc["blades"][0]["cases"][0]["records"].append({"type": "mystery"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_a_results_json_of_another_schema_or_malformed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": 1, "blades": []}))
    with pytest.raises(ValueError, match="schema 1: this swaplab reads schema 2"):
        RunResult.load(path)
    doc = _result().to_json()
    del doc["blades"][0]["cases"][0]["outcome"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"not a valid results\.json: at blades/0/cases/0: .outcome. is a required"):
        RunResult.load(path)
    doc = _result().to_json()
    doc["blades"][0]["cases"][0]["records"][0]["type"] = "mystery"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"not a valid results\.json: at blades/0/cases/0/records/0"):
        RunResult.load(path)


def test_summary_and_html() -> None:
    result = _result()
    text = results.summary_text(result)
    assert "NFS/NBD ratio 1.70 [95% CI 1.60-1.80]" in text and "verdict: kernel failure (exit 1)" in text
    page = html.render(result)
    assert "<svg" in page and "1.70" in page and "\x1b" not in page.split("<pre>")[0]


def _run_dir(tmp_path: Path) -> Path:
    """A run directory: results.json and the hog load's timeline, as `swaplab run` leaves them."""
    run_dir = tmp_path / "run"
    load = run_dir / "blade1" / "loads" / "hog-t1-nbd"
    load.mkdir(parents=True)
    rows = ["uptime_s,pswpin,pswpout,pgscan,pgsteal,oom_kill,pgscan_direct_throttle,MemFree,SwapFree,Dirty,Writeback"]
    rows += [f"{313.2 + i},{i * 100},{i * 900},0,0,0,0,{max(8000, 60000 - i * 3000)},{1048576 - i * 3600},0,0"
             for i in range(60)]  # fmt: skip
    (load / "samples.csv").write_text("\n".join(rows) + "\n")
    result = _result()
    result.blades[0].cases[2].records.append(
        LoadFigures(load="hog-t1-nbd", store="nbd", status="done", rc=0, wall_s=80.0)
    )
    result.save(run_dir / "results.json")
    return run_dir


def test_the_report_is_one_self_contained_page_with_every_section(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    page = html.render(RunResult.load(run_dir / "results.json"), run_dir)
    # Summary first: the verdict, the kernel with its checksum, the fleet, the ratio with its interval and gate.
    head = page[: page.index('<section class="blade"')]
    assert "kernel failure" in head and "6.1.0-56-amd64" in head and "a" * 64 in head
    assert "1.70" in head and "1.60 – 1.80" in head and "within" in head
    # Per blade: the trials plot, the timeline with the stall marked 42 s in, the findings with their console.
    assert 'id="trials-blade1"' in page and 'id="timeline-blade1-hog-t1-nbd"' in page
    timeline_svg = page[page.index('id="timeline-blade1-hog-t1-nbd"') :]
    assert "rcu_stall" in timeline_svg[: timeline_svg.index("</figure>")]  # the finding marked on the plot
    assert "42.0 s in" in page and "console around it" in page
    assert page.count("<svg") == 2
    # Self-contained: no script, no stylesheet or image fetched from anywhere (url(#id) is inside the page).
    for bad in ("<script", "<link", "src=", "url(http", "@import"):
        assert bad not in page
    assert not re.search(r'href="(?!#)', page)
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two figures share an element id"
    assert "\x1b" not in page and "\x07" not in page and "[0m" not in page


def test_swaplab_report_rewrites_junit_and_html_from_the_run_directory(tmp_path: Path) -> None:
    from swaplab.cli import main

    run_dir = _run_dir(tmp_path)
    assert main(["report", str(run_dir)]) == 0
    assert junit.validate((run_dir / "junit.xml").read_bytes(), XSD) is None
    assert 'id="timeline-blade1-hog-t1-nbd"' in (run_dir / "report.html").read_text()
    (run_dir / "results.json").write_text("{")
    assert main(["report", str(run_dir)]) == 2


def test_a_report_page_that_cannot_be_rendered_costs_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:  # fmt: skip
    from swaplab.report import outputs as run_module

    def broken(*_a: object) -> str:
        raise KeyError("info_findings")

    monkeypatch.setattr(run_module.html, "render", broken)
    said: list[str] = []
    run_module.write_outputs(tmp_path, _result(), said.append)
    assert junit.validate((tmp_path / "junit.xml").read_bytes(), XSD) is None and (tmp_path / "results.json").is_file()
    assert "could not render" in (tmp_path / "report.html").read_text() and "report.html could not" in said[0]
