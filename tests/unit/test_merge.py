"""`swaplab merge` on the captured real runs (tests/unit/data/runs): one sign-off, its refusals, and a missing
or interrupted rack never green."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from swaplab import __version__
from swaplab.cli import main
from swaplab.report import journal, junit
from swaplab.report.merge import MergeError, merge
from swaplab.report.results import RunResult

RUNS = Path(__file__).parent / "data" / "runs"
XSD = Path(junit.__file__).with_name("junit-10.xsd")


def _copy(tmp_path: Path, name: str, as_: str | None = None) -> Path:
    dest = tmp_path / (as_ or name)
    shutil.copytree(RUNS / name, dest)
    return dest


def _edit(run_dir: Path, **changes: object) -> None:
    doc = json.loads((run_dir / "results.json").read_text())
    for key, value in changes.items():
        if key.startswith("options."):
            doc["options"][key.removeprefix("options.")] = value
        else:
            doc[key] = value
    (run_dir / "results.json").write_text(json.dumps(doc))


def test_two_racks_merge_into_one_run_directory_that_report_and_compare_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-6.1-b")
    (a / "blade1" / "console.log").write_text("[    1.0] a console line\n")
    out = tmp_path / "fleet"
    rc = main(["merge", f"rack1={a}", f"rack2={b}", "-o", str(out), "--prefix-racks", "--expect", "rack1,rack2"])
    assert rc == 0, capsys.readouterr()
    merged = RunResult.load(out / "results.json")  # the schema, as any run's
    assert [x.name for x in merged.blades] == ["rack1-blade1", "rack2-blade1"]
    assert merged.blades[0].properties["rack"] == "rack1" and merged.blades[0].properties["rack.run"] == str(a)
    assert set(merged.options["racks"]) == {"rack1", "rack2"} and merged.exit_code == 0
    xml = (out / "junit.xml").read_bytes()
    assert junit.validate(xml, XSD) is None
    suites = ET.fromstring(xml).findall("testsuite")
    assert [{p.get("name"): p.get("value") for p in s.iter("property")}["rack"] for s in suites] == ["rack1", "rack2"]
    # The blades' files (timelines, consoles) open from the merged directory.
    assert (out / "rack1-blade1" / "loads" / "hog-t1-nfs" / "samples.csv").is_file()
    assert (out / "rack1-blade1" / "console.log").read_text() == "[    1.0] a console line\n"
    page = (out / "report.html").read_text()
    assert 'id="racks"' in page and "<b>rack2</b>" in page and page.count('class="plot"') >= 4
    assert main(["report", str(out)]) == 0
    assert main(["compare", str(out), str(out)]) == 0


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"swaplab_version": "0.0.9"}, "rack b ran swaplab 0.0.9, rack a 0.1.0"),
        ({"options.trials": 5}, "option trials: 3 on rack a, 5 on rack b"),
        ({"options.working_set": "1.5x"}, "option working_set: '2x' on rack a, '1.5x' on rack b"),
    ],
)
def test_runs_that_are_not_one_sign_off_are_refused_naming_the_difference(tmp_path: Path, change: dict[str, object],
                                                                          needle: str) -> None:  # fmt: skip
    a, b = _copy(tmp_path, "kernel-6.1-a", "a"), _copy(tmp_path, "kernel-6.1-b", "b")
    _edit(b, **change)
    out = tmp_path / "fleet"
    with pytest.raises(MergeError) as e:
        merge([f"a={a}", f"b={b}"], out, prefix=True)
    assert any(needle in p for p in e.value.problems), e.value.problems
    assert not out.exists()  # nothing written


def test_every_refusal_is_listed_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-5.10")
    a2 = _copy(tmp_path, "kernel-6.1-a", "a2")  # another copy of a: another directory, the same rack name
    _edit(b, **{"options.ratio_gate": 3.0, "options.limit": "blade*", "options.inventory": "/x/rack9/hosts.yml"})
    out = tmp_path / "fleet"
    assert main(["merge", str(a), str(b), str(a2), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("swaplab merge: cannot merge (nothing was written):")
    assert "rack rack9 tested another kernel: 5.10.0-46-amd64 (sha256 6d89bdf9a7c4)" in err
    assert "option ratio_gate: 2.5 on rack virtual, 3.0 on rack rack9" in err
    assert "option limit" not in err and "option inventory" not in err  # a rack's own place may differ
    assert "are both rack 'virtual': name them NAME=RUN_DIR" in err  # a given twice
    assert "blade blade1 is in rack virtual and in rack rack9: give --prefix-racks" in err
    assert not out.exists()


def test_a_missing_rack_and_an_interrupted_run_are_errors_and_exit_2(tmp_path: Path) -> None:
    a = _copy(tmp_path, "kernel-6.1-a")
    _edit(a, swaplab_version=__version__)  # the interrupted rack's journal is this swaplab's
    # An interrupted rack: a journal with its finished cases, no results.json.
    done = RunResult.load(RUNS / "kernel-6.1-b" / "results.json")
    cut = tmp_path / "cut"
    cut.mkdir()
    j = journal.Journal(cut)
    j.run(done.kernel, {**done.options, "inventory": "/labs/rack2/hosts.yml"}, ["r2b1"])
    for case in done.blades[0].cases[:5]:
        case.blade = "r2b1"
        j.finished(case)
    out = tmp_path / "fleet"
    result = merge([f"rack1={a}", str(cut)], out, expect=["rack1", "rack2", "rack3"])
    errors = {c.name: c.message for b in result.blades for c in b.cases if c.outcome == "error"}
    assert "rack rack3" in errors and "expected, and no run directory was given for it" in errors["rack rack3"]
    assert "rack rack2" in errors and "was interrupted" in errors["rack rack2"]
    kept = next(b for b in result.blades if b.name == "r2b1")
    assert sum(c.outcome == "passed" for c in kept.cases) == 5  # its finished cases are kept
    assert result.exit_code == 2  # never green
    assert main(["merge", f"rack1={a}", "-o", str(tmp_path / "f2"), "--expect", "rack1,rackX"]) == 2


def test_run_directories_are_untrusted(tmp_path: Path) -> None:
    a = _copy(tmp_path, "kernel-6.1-a")
    secret = tmp_path / "secret"
    secret.write_text("not a blade's")
    (a / "blade1" / "leak.log").symlink_to(secret)  # a link planted in a copied run directory
    os.symlink("/", a / "blade1" / "root")
    out = tmp_path / "fleet"
    merge([str(a)], out)
    assert not (out / "blade1" / "leak.log").exists() and not (out / "blade1" / "root").exists()
    assert (out / "blade1" / "loads" / "hog-t1-nfs" / "samples.csv").is_file()
    bad = _copy(tmp_path, "kernel-6.1-b", "bad")
    (bad / "results.json").unlink()
    (bad / "results.json").symlink_to(a / "results.json")
    with pytest.raises(MergeError, match=r"bad: cannot be merged: .*results\.json"):
        merge([str(bad)], tmp_path / "f3")
    with pytest.raises(MergeError, match="no-such: not a run directory"):
        merge([str(tmp_path / "no-such")], tmp_path / "f4")


def test_an_interrupted_rack_is_of_the_swaplab_its_journal_names(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The journal records the swaplab that wrote it: an interrupted rack of an older swaplab is refused beside
    a rack of this one, and one of the same accepted; a version that is not a version leaves the run's event
    unread, and the journal with no run."""
    done = RunResult.load(RUNS / "kernel-6.1-b" / "results.json")
    monkeypatch.setattr(journal, "__version__", "0.1.0")
    cut = tmp_path / "cut"
    cut.mkdir()
    journal.Journal(cut).run(done.kernel, done.options, ["r2b1"])
    assert journal.read(cut).swaplab_version == "0.1.0"
    a = _copy(tmp_path, "kernel-6.1-a")  # captured by swaplab 0.1.0
    assert "rack rack2" in {c.name for b in merge([f"rack1={a}", f"rack2={cut}"], tmp_path / "ok").blades
                            for c in b.cases if c.outcome == "error"}  # fmt: skip
    _edit(a, swaplab_version=__version__)
    with pytest.raises(MergeError, match=f"ran swaplab 0.1.0, rack rack1 {__version__}"):
        merge([f"rack1={a}", f"rack2={cut}"], tmp_path / "refused")
    text = (cut / journal.JOURNAL).read_text().replace('"0.1.0"', '"0.1.0; rm -rf /"')
    (cut / journal.JOURNAL).write_text(text)
    with pytest.raises(ValueError, match="no run in it"):  # its run event is not read at all
        journal.read(cut)
