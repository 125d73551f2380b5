"""Two real runs of the virtual lab, captured (tests/unit/data/runs/README.md): their results.json follows its
schema, the report renders every section from them, and `compare` judges them as a release manager would."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from swaplab.cli import main
from swaplab.records import HogTrial, RatioRecord
from swaplab.report import compare, html, results
from swaplab.report.results import RunResult

RUNS = Path(__file__).parent / "data" / "runs"
A, B = RUNS / "lab-6.1-a", RUNS / "lab-6.1-b"


def test_real_results_follow_their_schema() -> None:
    schema = json.loads(results.SCHEMA_FILE.read_text())
    for run in (A, B):
        jsonschema.validate(json.loads((run / "results.json").read_text()), schema)


def test_the_report_of_a_real_run_has_every_section() -> None:
    page = html.render(RunResult.load(A / "results.json"), A)
    sections = (
        'id="summary"',
        'id="nas-timeline"',
        'id="trials-blade1"',
        'id="fio-blade1"',
        'id="timeline-blade1-hog-t1-nfs"',
        'id="timeline-blade1-hog-t1-nbd"',
        "<h3>Findings</h3>",
    )
    for section in sections:
        assert section in page, section
    assert "6.1.0-57-amd64" in page and "0.76 – 1.75" in page


def test_two_runs_of_the_same_kernel_show_no_significant_change(tmp_path: Path) -> None:
    cmp = compare.compare(RunResult.load(A / "results.json"), RunResult.load(B / "results.json"))
    assert cmp.comparable and cmp.exit_code == 0, compare.render_text(cmp)
    assert {c.verdict() for c in cmp.changes if c.gated} == {"no significant change"}


def _doctored(factor: float) -> RunResult:
    """Run b with every NFS trial `factor` times as long (as a slower kernel would make them)."""
    r = RunResult.load(B / "results.json")
    for blade in r.blades:
        for case in blade.cases:
            new = []
            for rec in case.records:
                if isinstance(rec, HogTrial) and rec.store == "nfs" and rec.total_s:
                    rec = dataclasses.replace(rec, total_s=rec.total_s * factor)
                elif isinstance(rec, RatioRecord):
                    rec = dataclasses.replace(rec, per_pair=tuple(p * factor for p in rec.per_pair),
                                              nfs_s=tuple(t * factor for t in rec.nfs_s),
                                              ratio=rec.ratio * factor)  # fmt: skip
                new.append(rec)
            case.records = new
    return r


def test_nfs_trials_30_percent_slower_are_significantly_worse_exit_1(tmp_path: Path) -> None:
    worse = tmp_path / "worse"
    worse.mkdir()
    _doctored(1.3).save(worse / "results.json")
    shutil.copytree(A, tmp_path / "a")
    assert main(["compare", str(tmp_path / "a"), str(worse), "--html", str(tmp_path / "compare.html")]) == 1
    cmp = compare.compare(RunResult.load(A / "results.json"), _doctored(1.3))
    nfs = next(c for c in cmp.changes if c.metric == "hog time NFS")
    assert nfs.verdict() == "significantly worse", compare.render_text(cmp)
    assert "significantly worse" in (tmp_path / "compare.html").read_text()


# --- A/B across kernels: real default-setting runs of one virtual blade, 6.1 twice and 5.10 once ---

K61A, K61B, K510 = RUNS / "kernel-6.1-a", RUNS / "kernel-6.1-b", RUNS / "kernel-5.10"


def test_the_captured_kernel_runs_follow_their_schema_and_differ_in_memtotal() -> None:
    schema = json.loads(results.SCHEMA_FILE.read_text())
    mem = {}
    for run in (K61A, K61B, K510):
        doc = json.loads((run / "results.json").read_text())
        jsonschema.validate(doc, schema)
        assert doc["options"]["blade_memory_mib"] == {"blade1": 192}
        mem[run.name] = {t.mem_total_kib for t in RunResult.load(run / "results.json").blades[0].of(HogTrial)}
    assert mem["kernel-6.1-a"] == mem["kernel-6.1-b"] != mem["kernel-5.10"]  # each kernel its own MemTotal


def test_a_510_candidate_against_a_61_baseline_is_judged_and_significantly_worse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: 'not comparable: RAM differs ... working set differs', nothing judged (exit 2)."""
    cmp = compare.compare(RunResult.load(K61A / "results.json"), RunResult.load(K510 / "results.json"))
    text = compare.render_text(cmp)
    assert cmp.comparable and cmp.exit_code == 1, text
    assert any(g.startswith("blade1: NFS/NBD ratio is significantly worse") and "95% interval" in g
               for g in cmp.gate_failures), text  # fmt: skip
    assert any(g.startswith("blade1: hog time NFS is significantly worse") and "95% interval" in g
               for g in cmp.gate_failures), text  # fmt: skip
    base_mem, cand_mem = cmp.context["blade1"]["MemTotal KiB"]
    assert base_mem != cand_mem and f"MemTotal KiB {base_mem} -> {cand_mem}" in text
    for run in (K61A, K510):
        shutil.copytree(run, tmp_path / run.name)
    page = tmp_path / "compare.html"
    assert main(["compare", str(tmp_path / K61A.name), str(tmp_path / K510.name), "--html", str(page)]) == 1
    html_text = page.read_text()
    assert str(base_mem) in html_text and str(cand_mem) in html_text and "significantly worse" in html_text
    assert "significantly worse" in capsys.readouterr().out


def test_a_second_61_run_is_no_significant_regression() -> None:
    cmp = compare.compare(RunResult.load(K61A / "results.json"), RunResult.load(K61B / "results.json"))
    assert cmp.comparable and cmp.exit_code == 0, compare.render_text(cmp)
