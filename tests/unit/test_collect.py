"""The pytest plugin that makes JUnit cases: a real pytest session over a small generated suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swaplab.options import RunOptions
from swaplab.records import Facts, LoadFigures
from swaplab.report.collect import PLUGIN, Collector

SUITE = """
import pytest
from swaplab.fleet.settings import InfraError

@pytest.fixture(params=["blade1", "blade2"])
def blade(request):
    return request.param

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_ok(blade, record_property):
    record_property("swaplab_record", {"type": "facts", "values": {"figure": 1.5}})
    record_property("attachment", "/r/console.log")

def test_kernel(blade):
    assert blade != "blade2", "OOM kill of sshd"

def test_unreachable(blade):
    if blade == "blade1":
        raise InfraError("blade1: no answer within 60 s")

def test_setup(blade, broken):
    pass

def test_harness_bug(blade):
    "-o ControlPath=%C" % ("blade1",)

def test_explicit_fail(blade):
    if blade == "blade1":
        pytest.fail("fio gave no usable result")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_outcomes_per_blade(tmp_path: Path, workers: list[str]) -> None:
    """The same cases whether the blades run in this process or in xdist workers (the marks travel)."""
    (tmp_path / "test_suite.py").write_text(SUITE)
    messages: list[str] = []
    c = Collector(messages.append)
    args = [str(tmp_path), "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path}", "-p", PLUGIN, *workers]
    rc = pytest.main(args, plugins=[c])
    assert rc == 1
    got = {(case.blade, case.name): case for case in c.cases}
    assert len(got) == 12
    assert got[("blade1", "test_ok")].outcome == "passed"
    assert got[("blade1", "test_ok")].records == [Facts({"figure": 1.5})]  # typed again, across xdist too
    assert got[("blade1", "test_ok")].attachments == ["/r/console.log"]
    assert got[("blade2", "test_kernel")].outcome == "failed"  # a kernel check: <failure>
    assert "OOM kill of sshd" in got[("blade2", "test_kernel")].message
    assert got[("blade1", "test_kernel")].outcome == "passed"
    assert got[("blade1", "test_unreachable")].outcome == "error"  # InfraError: <error>
    assert got[("blade1", "test_unreachable")].message.startswith("blade1: no answer within 60 s")
    assert got[("blade2", "test_setup")].outcome == "error"  # a broken fixture is no kernel failure
    assert got[("blade1", "test_harness_bug")].outcome == "error"  # nor is swaplab's own bug
    assert got[("blade1", "test_explicit_fail")].outcome == "failed"  # pytest.fail is a check
    assert any("FAIL" in m and "test_kernel" in m for m in messages)


def _load(wall_s: float) -> LoadFigures:
    return LoadFigures(load="hog-t1-nfs", store="nfs", status="done", rc=0, wall_s=wall_s)


def test_load_time_is_the_busiest_blades_when_blades_run_in_parallel() -> None:
    from swaplab.report.model import Case

    c = Collector(lambda _m: None)
    c.cases = [
        Case("blade1", "hog", "test_hog[t1-nfs]", "passed", records=[_load(100.0)]),
        Case("blade1", "hog", "test_hog[t1-nbd]", "passed", records=[_load(50.0)]),
        Case("blade2", "hog", "test_hog[t1-nfs]", "passed", records=[_load(120.0)]),
        Case("blade2", "config", "test_zswap_off", "passed"),
    ]
    assert c.load_seconds() == 150.0
    assert Collector(lambda _m: None).load_seconds() == 0.0


def test_fleet_suites_group_each_blades_tests_for_xdist(tmp_path: Path) -> None:
    """Each blade's tests carry one xdist_group (its name): one worker runs them all, in file order."""
    from swaplab.fleet.settings import Settings

    ctx = tmp_path / "context.json"
    Settings(
        str(tmp_path),
        "inv.yml",
        "ssh_config",
        str(tmp_path),
        {"blade1": {}, "blade2": {}},
        options=RunOptions(trials=2, precision_pct=0),
    ).save(ctx)
    items: list[pytest.Item] = []

    class Grab:
        def pytest_collection_finish(self, session: pytest.Session) -> None:
            items.extend(session.items)

    fleet = Path(__file__).parents[1] / "fleet"
    rc = pytest.main([str(fleet), "--collect-only", "-q", "-p", "no:cacheprovider", f"--swaplab-context={ctx}"],
                     plugins=[Grab()])  # fmt: skip
    assert rc == 0
    groups: dict[str, list[str]] = {}
    for item in items:
        marks = [m.args[0] for m in item.iter_markers("xdist_group")]
        assert len(marks) == 1, f"{item.nodeid} has xdist_group marks {marks}"
        groups.setdefault(marks[0], []).append(item.nodeid)
    assert set(groups) == {"blade1", "blade2"}
    for blade, ids in groups.items():
        assert all(f"[{blade}" in i for i in ids)
        names = [i.split("::")[-1].split("[")[0] for i in ids]
        # The verdict (ratio, whole-run health) comes after every load of that blade.
        assert names.index("test_nfs_nbd_ratio") > max(i for i, n in enumerate(names) if n == "test_hog")
        assert names[-1] == "test_kernel_health"
        assert names.count("test_hog") == 4  # 2 trials x (NFS, NBD)


def test_with_precision_every_pair_it_may_take_is_collected_in_alternating_order(tmp_path: Path) -> None:
    from swaplab.fleet.settings import Settings

    pairs = ["t1-nfs", "t1-nbd", "t2-nbd", "t2-nfs", "t3-nfs", "t3-nbd", "t4-nbd", "t4-nfs", "t5-nfs", "t5-nbd"]
    for warm_up in (True, False):
        ctx = tmp_path / f"context-{warm_up}.json"
        opts = RunOptions(trials=3, precision_pct=10, max_trials=5, warm_up=warm_up)
        Settings(str(tmp_path), "inv.yml", "ssh_config", str(tmp_path), {"blade1": {}}, options=opts).save(ctx)
        items: list[pytest.Item] = []

        class Grab:
            def pytest_collection_finish(self, session: pytest.Session, into: list[pytest.Item] = items) -> None:
                into.extend(session.items)

        fleet = Path(__file__).parents[1] / "fleet" / "test_hog.py"
        rc = pytest.main([str(fleet), "--collect-only", "-q", "-p", "no:cacheprovider", f"--swaplab-context={ctx}"],
                         plugins=[Grab()])  # fmt: skip
        assert rc == 0
        names = [i.name for i in items]
        # The warm-up first (not with --no-warm-up: never planned, not skipped), then every pair it may take.
        expected = (["test_warm_up[blade1]"] if warm_up else []) + [f"test_hog[blade1-{p}]" for p in pairs]
        assert names == expected, names


NOT_NEEDED_SUITE = """
import pytest
from swaplab.records import UNNEEDED_KEY

@pytest.fixture(autouse=True)
def _needed(request):
    if request.node.callspec.params["trial"] > 2:
        request.node.user_properties.append((UNNEEDED_KEY, "precision reached"))
        pytest.skip("not needed: precision reached")

@pytest.fixture(autouse=True)
def _skipped(request):
    if request.node.callspec.params["trial"] == 2:
        pytest.skip("not needed: a reason's words alone are a skip")

@pytest.fixture
def blade():
    return "blade1"

@pytest.mark.parametrize("trial", [1, 2, 3])
def test_hog(blade, trial):
    pass
"""


def test_a_case_that_was_not_needed_is_left_out_of_the_results_and_the_journal_rebuild(tmp_path: Path) -> None:
    from swaplab.report.journal import Journal, read

    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_hog.py").write_text(NOT_NEEDED_SUITE)
    journal = Journal(tmp_path)
    journal.write("run", kernel={}, options={}, blades=["blade1"])
    c = Collector(lambda _m: None, journal, ["blade1"])
    rc = pytest.main([str(tmp_path / "suite"), "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path}", "-p", PLUGIN],
                     plugins=[c])  # fmt: skip
    assert rc == 0
    assert [(case.name, case.outcome) for case in c.cases] == [("test_hog[1]", "passed"), ("test_hog[2]", "skipped")]
    journal.write("done", exit_code=0)
    st = read(tmp_path)
    assert len(st.finished) == 2 and st.interrupted == [] and st.never_started == []


RACK_SUITE = """
import pytest

def pytest_generate_tests(metafunc):
    if "blade" in metafunc.fixturenames:
        names = ["r1-b01", "r1-b01-x", "7b", "r1-b1"]
        metafunc.parametrize("blade", [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in names],
                             ids=names, scope="session")
    if "trial" in metafunc.fixturenames:
        metafunc.parametrize(("trial", "store"), [(1, "nfs"), (1, "nbd")], ids=["t1-nfs", "t1-nbd"])

def test_reachable(blade):
    pass

def test_hog(blade, trial, store):
    pass

@pytest.mark.parametrize("store", ["nfs", "nbd"])
def test_fio(blade, store):
    pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--dist", "loadgroup"]], ids=["in-process", "xdist"])
def test_rack_style_names_keep_their_cases(tmp_path: Path, workers: list[str]) -> None:
    """Rack-style host names (hyphens, a digit first, one name the prefix of another): every planned and
    finished case under its own blade, the blade out of the case name. Before: the id was split on '-', every
    planned case of ``r1-b01`` was journaled under blade '?', and the case kept ``r1-b01-`` in its name."""
    from swaplab.report.journal import Journal

    (tmp_path / "test_rack.py").write_text(RACK_SUITE)
    names = ["r1-b01", "r1-b01-x", "7b", "r1-b1"]
    (tmp_path / "run").mkdir()
    journal = Journal(tmp_path / "run")
    c = Collector(lambda _m: None, journal, names)
    args = [str(tmp_path / "test_rack.py"), "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path}", "-p", PLUGIN,
            *workers]  # fmt: skip
    assert pytest.main(args, plugins=[c]) == 0
    got = sorted((case.blade, case.name) for case in c.cases)
    assert got == sorted((b, n) for b in names for n in ("test_reachable", "test_hog[t1-nfs]", "test_hog[t1-nbd]",
                                                         "test_fio[nfs]", "test_fio[nbd]"))  # fmt: skip
    assert c.planned_case("test_rack.py::test_fio[nbd-r1-b01]@r1-b01").blade == "r1-b01"
    planned = [c.planned_case(n) for n in (f"test_rack.py::test_hog[{b}-t1-nfs]@{b}" for b in names)]
    assert [(p.blade, p.name) for p in planned] == [(b, "test_hog[t1-nfs]") for b in names]
    assert c.planned_case("test_rack.py::test_reachable[r1-b01-x]").blade == "r1-b01-x"
    assert c.planned_case("test_rack.py::test_reachable[r2-b01]").blade == "?"  # not a blade of the run


def test_each_planned_case_is_journaled_once_whatever_the_workers(tmp_path: Path) -> None:
    """Under xdist every worker collects every blade's cases: 100 workers used to journal 100 copies of a
    100-blade plan (journal bytes per blade grew with the rack). Now each case is journaled once."""
    from swaplab.report.journal import Journal

    names = [f"r1-b{i:03d}" for i in range(100)]
    ids = [f"tests/fleet/test_hog.py::test_hog[{n}-t{t}-{s}]" for n in names for t in (1, 2) for s in ("nfs", "nbd")]
    (tmp_path / "run").mkdir()
    journal = Journal(tmp_path / "run")
    c = Collector(lambda _m: None, journal, names)
    for _worker in range(100):
        c.pytest_xdist_node_collection_finished(object(), ids)
    lines = (tmp_path / "run" / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 200 * len(ids)  # about 130 bytes a case, once
    assert len(json.loads(lines[0])["cases"]) == len(ids)


FAILING_LOAD = """
from swaplab.fleet.recording import problems_message

import pytest

class BladeSession:  # its repr, <...BladeSession object at 0x...>, is what Jenkins used to show
    pass

@pytest.fixture
def blade():
    return BladeSession()

def test_hog(blade, record_property):
    for line, kind, text, at in ((40, "userspace_crash", "traps: sshd[364] general protection fault ip:7f", 12.5),
                                 (52, "hung_task", "INFO: task kswapd0:54 blocked for more than 122 seconds.", 140.0)):
        record_property("swaplab_record", {"type": "finding", "kind": kind, "severity": "fail", "text": text,
                                           "source": "blade1:console", "line": line, "kernel_time_s": 150.0 + at,
                                           "at_s": at, "load": "hog-t1-nfs", "excerpt": "[  160.1] before\\n" + text})
    problems = ["userspace_crash (blade1:console:40): 3 user process(es) died of faults in their own memory",
                "hung_task (blade1:console:52): INFO: task kswapd0:54 blocked for more than 122 seconds."]
    assert not problems, problems_message(problems)
"""


def test_a_failed_load_in_junit_reads_as_the_problem_not_the_test_code(tmp_path: Path) -> None:
    """Jenkins shows the failure's message on the build page and its text below: the first problem, then
    every finding with its time and console; pytest's traceback (object reprs) only in system-err."""
    import xml.etree.ElementTree as ET

    from swaplab.report import junit
    from swaplab.report.model import BladeResult

    (tmp_path / "test_swaplab_failing_load.py").write_text(FAILING_LOAD)
    c = Collector(lambda _m: None)
    assert pytest.main([str(tmp_path), "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path}", "-p", PLUGIN],
                       plugins=[c]) == 1  # fmt: skip
    [case] = c.cases
    xml = junit.render([BladeResult("blade1", cases=[case])])
    assert junit.validate(xml, Path(junit.__file__).with_name("junit-10.xsd")) is None
    failure = ET.fromstring(xml).find(".//testcase/failure")
    assert failure is not None
    message, body = failure.get("message") or "", failure.text or ""
    assert message == "userspace_crash (blade1:console:40): 3 user process(es) died of faults in their own memory"
    assert body.startswith(message + "\n(2 kernel problems in all; the others:)\nhung_task (blade1:console:52)")
    assert "- userspace_crash (fail; 12 s into hog-t1-nfs; uptime 162.5 s; blade1:console:40): traps: sshd[364]" in body
    assert "\n    [  160.1] before\n" in body and "- hung_task (fail; 140 s into hog-t1-nfs;" in body
    for text in (message, body):
        assert "object at 0x" not in text and "assert not" not in text and "Traceback" not in text
    err = ET.fromstring(xml).findtext(".//testcase/system-err") or ""
    assert "BladeSession object at 0x" in err  # the test code's traceback, for swaplab's developers
