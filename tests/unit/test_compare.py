"""`swaplab compare`: comparability first, Welch's interval on log times, the gate, the exit codes."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from swaplab.cli import main
from swaplab.records import FindingRecord, HogTrial, RatioRecord
from swaplab.report import compare
from swaplab.report.model import BladeResult, Case
from swaplab.report.results import KernelRecord, RunResult


def _run(release: str, nfs: list[float], nbd: list[float], findings: list[FindingRecord] | None = None,
         mem_kib: int = 196608, working_set: str = "2x", configured: int | None = None) -> RunResult:  # fmt: skip
    cases = []
    for i, (a, b) in enumerate(zip(nfs, nbd, strict=True), 1):
        for store, t in (("nfs", a), ("nbd", b)):
            cases.append(Case("blade1", "hog", f"test_hog[t{i}-{store}]", "passed", t,
                              records=[HogTrial(store=store, trial=i, status="done", total_s=t, swap_mib_per_s=3.0,
                                                mib=384, mem_total_kib=mem_kib, swap_total_kib=1 << 20)]))  # fmt: skip
    per_pair = tuple(a / b for a, b in zip(nfs, nbd, strict=True))
    ratio = RatioRecord(ratio=math.exp(sum(map(math.log, per_pair)) / len(per_pair)), ci95_low=None, ci95_high=None,
                        ci95_half_width_pct=None, pairs=len(per_pair), per_pair=per_pair, gate=2.5,
                        nfs_s=tuple(nfs), nbd_s=tuple(nbd))  # fmt: skip
    cases.append(Case("blade1", "verdict", "test_nfs_nbd_ratio", "passed", 0.1, records=[ratio]))
    cases.append(Case("blade1", "verdict", "test_kernel_health", "passed", 1.0, records=list(findings or [])))
    return RunResult(exit_code=0, kernel=KernelRecord(release=release, sha256="0" * 64), blades=[
        BladeResult("blade1", cases=cases)], options={"working_set": working_set, "fio_size_mib": 32, "inventory": "x",
                                                      "blade_memory_mib": {"blade1": configured}})  # fmt: skip


BASE_NFS, BASE_NBD = [150.0, 160.0, 155.0], [95.0, 99.0, 97.0]


def test_the_same_kernel_twice_is_no_significant_change() -> None:
    cmp = compare.compare(_run("a", BASE_NFS, BASE_NBD), _run("a", [158.0, 149.0, 157.0], [97.0, 94.0, 99.0]))
    assert cmp.comparable and cmp.exit_code == 0 and not cmp.gate_failures
    nfs = next(c for c in cmp.changes if c.metric == "hog time NFS")
    assert nfs.ci95_low_pct is not None and nfs.ci95_low_pct < 0 < (nfs.ci95_high_pct or 0)
    assert nfs.verdict() == "no significant change" and nfs.gated


def test_nfs_trials_30_percent_slower_fail_the_gate() -> None:
    cmp = compare.compare(_run("a", BASE_NFS, BASE_NBD), _run("b", [t * 1.3 for t in BASE_NFS], BASE_NBD))
    assert cmp.exit_code == 1
    nfs = next(c for c in cmp.changes if c.metric == "hog time NFS")
    assert nfs.change_pct == pytest.approx(30.0) and nfs.worse and nfs.verdict() == "significantly worse"
    assert any("hog time NFS is significantly worse: +30.0%" in g for g in cmp.gate_failures)
    assert any("NFS/NBD ratio is significantly worse" in g for g in cmp.gate_failures)
    nbd = next(c for c in cmp.changes if c.metric == "hog time NBD")
    assert nbd.verdict() == "no significant change" and not nbd.gated


def test_welch_interval_matches_a_hand_computation() -> None:
    # logs 0,0 vs ln2,ln2+ln1.1: the change is exp(mean diff)-1; identical spreads give a finite interval.
    change, lo, hi = compare.welch_log([1.0, 1.1], [2.0, 2.2])
    assert change == pytest.approx(100.0)
    assert lo is not None and hi is not None and lo < 100.0 < hi
    assert compare.welch_log([1.0], [2.0]) == (pytest.approx(100.0), None, None)  # one value: no interval


def test_a_slower_candidate_within_the_threshold_passes() -> None:
    cand = _run("b", [t * 1.05 for t in BASE_NFS], [t * 1.05 for t in BASE_NBD])
    assert compare.compare(_run("a", BASE_NFS, BASE_NBD), cand).exit_code == 0


def test_a_new_kind_of_finding_fails_the_gate() -> None:
    stall = FindingRecord(kind="rcu_stall", severity="fail", text="rcu: INFO: rcu_preempt self-detected stall",
                          source="blade1:console", line=3)  # fmt: skip
    cmp = compare.compare(_run("a", BASE_NFS, BASE_NBD), _run("b", BASE_NFS, BASE_NBD, findings=[stall]))
    assert cmp.exit_code == 1 and cmp.findings["blade1"]["rcu_stall"] == (0, 1)
    assert any("rcu_stall finding(s) (fail) the baseline did not have" in g for g in cmp.gate_failures)


def test_runs_that_differ_are_not_compared_and_every_difference_is_named() -> None:
    cmp = compare.compare(_run("a", BASE_NFS, BASE_NBD),
                          _run("b", BASE_NFS, BASE_NBD, mem_kib=262144, working_set="1.5x"))  # fmt: skip
    assert cmp.exit_code == 2 and not cmp.changes
    text = "\n".join(cmp.differences)
    assert "option working_set differs: baseline 2x, candidate 1.5x" in text
    assert "configured memory unknown (baseline: its inventory has no swaplab_memory_mib" in text
    assert "MemTotal baseline [196608] KiB, candidate [262144] KiB (33.3% apart)" in text


def test_two_kernels_on_the_same_blade_are_compared_on_what_the_operator_configured() -> None:
    # The same 192 MiB blade: 5.10 reports 4% more MemTotal than 6.1, and 2x makes a larger working set of it.
    base = _run("6.1", BASE_NFS, BASE_NBD, mem_kib=142948, configured=192)
    cand = _run("5.10", [t * 1.3 for t in BASE_NFS], BASE_NBD, mem_kib=148896, configured=192)
    cmp = compare.compare(base, cand)
    assert cmp.comparable and cmp.exit_code == 1, compare.render_text(cmp)
    assert cmp.context["blade1"]["MemTotal KiB"] == (142948, 148896)
    assert cmp.context["blade1"]["configured memory MiB"] == (192, 192)
    assert not cmp.warnings  # 4% apart: within the tolerance
    text = compare.render_text(cmp)
    assert "MemTotal KiB 142948 -> 148896" in text and "hog time NFS is significantly worse" in text


def test_a_kernel_reporting_much_less_memory_is_a_warning_not_a_refusal() -> None:
    cmp = compare.compare(_run("a", BASE_NFS, BASE_NBD, mem_kib=196608, configured=192),
                          _run("b", BASE_NFS, BASE_NBD, mem_kib=163840, configured=192))  # fmt: skip
    assert cmp.comparable and cmp.exit_code == 0
    assert any("report different memory for the same 192 MiB" in w and "20.0% apart" in w for w in cmp.warnings)


def test_a_different_configured_memory_is_a_refusal_naming_both() -> None:
    cmp = compare.compare(_run("a", BASE_NFS, BASE_NBD, configured=192),
                          _run("a", BASE_NFS, BASE_NBD, configured=256))  # fmt: skip
    assert cmp.exit_code == 2
    assert cmp.differences == [
        "blade1: configured memory differs: baseline 192 MiB (the inventory's "
        "swaplab_memory_mib), candidate 256 MiB (the inventory's swaplab_memory_mib)"
    ]


def test_unknown_configured_memory_says_what_stood_in_for_it() -> None:
    cmp = compare.compare(_run("a", BASE_NFS, BASE_NBD, mem_kib=142948),
                          _run("b", BASE_NFS, BASE_NBD, mem_kib=148896, configured=192))  # fmt: skip
    assert cmp.comparable
    assert cmp.warnings == [
        "blade1: configured memory unknown (baseline: its inventory has no swaplab_memory_mib "
        "for it): judged the same machine because MemTotal is within 10%"
    ]


def test_a_virtual_lab_run_of_another_nas_kind_is_not_comparable() -> None:
    base, cand = _run("a", BASE_NFS, BASE_NBD), _run("a", BASE_NFS, BASE_NBD)
    base.options.update(inventory=None, nas="host", blade_memory=192, blade_memory_mib={"blade1": 192})
    cand.options.update(inventory=None, nas="vm", blade_memory=192, blade_memory_mib={"blade1": 192})
    assert compare.compare(base, cand).differences == [
        "the virtual lab's NAS differs: baseline --nas host, candidate --nas vm"
    ]


def test_the_command_exit_codes_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, worse, other = tmp_path / "base", tmp_path / "worse", tmp_path / "other"
    for d, r in ((base, _run("a", BASE_NFS, BASE_NBD)), (worse, _run("b", [t * 1.3 for t in BASE_NFS], BASE_NBD)),
                 (other, dataclasses.replace(_run("c", BASE_NFS, BASE_NBD), blades=[]))):  # fmt: skip
        d.mkdir()
        r.save(d / "results.json")
    assert main(["compare", str(base), str(base)]) == 0
    assert "no significant regression" in capsys.readouterr().out
    page = tmp_path / "compare.html"
    assert main(["compare", str(base), str(worse), "--json", "--html", str(page)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "significantly worse" and doc["exit_code"] == 1
    assert "significantly worse" in page.read_text() and "<script" not in page.read_text()
    assert main(["compare", str(base), str(other)]) == 2
    assert "no blade in common" in capsys.readouterr().out
    assert main(["compare", str(base), str(tmp_path / "missing")]) == 2
    assert "cannot read it" in capsys.readouterr().err
