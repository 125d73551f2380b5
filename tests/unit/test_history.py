"""The history of nights: the captured real runs as nights, idempotent ingest, case states, known issues, the
store's bounds against hostile input, and Alembic's upgrade from the first schema. SQLite, real files."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from swaplab import cli, errors
from swaplab.history import commands, known, store
from swaplab.history.facts import HistoryInputError
from swaplab.history.store import History, NightRef, SeriesData, SeriesName, target
from swaplab.history.verdict import judge, render

RUNS = Path(__file__).parent / "data" / "runs"
BENCH = Path(__file__).resolve().parents[2] / "bench"


def _open(tmp_path: Path) -> History:
    return History(target(str(tmp_path / "history.db")))


def _ingest(h: History, run: str | Path, **kw: object) -> commands.Verdict:
    v, _ = commands.ingest(
        h,
        Path(RUNS / run) if isinstance(run, str) else run,
        kw.get("lab", "virtual"),  # type: ignore[arg-type]
        None,
        None,
        [],
    )
    return v


# -- the captured runs as nights ------------------------------------------------------------------------------
def test_three_real_nights_then_a_fourth_back_on_6_1(tmp_path: Path) -> None:
    with _open(tmp_path) as h:
        first = _ingest(h, "kernel-6.1-a")
        assert first.exit_code == 0 and not first.changed()
        second = _ingest(h, "kernel-6.1-b")
        assert second.exit_code == 0 and not second.changed(), render(second)
        third = _ingest(h, "kernel-5.10")
        assert third.exit_code == 1
        regressed = {(m.metric.split("@")[0], m.state) for m in third.metrics}
        assert ("ratio", "new-regression") in regressed and ("hog.nfs.s", "new-regression") in regressed
        for change in third.regressions:
            assert change.last_good is not None and change.last_good.release == "6.1.0-57-amd64"
            assert change.first_bad is not None and change.first_bad.release == "5.10.0-46-amd64"
        failed = {c.case: c.state for c in third.cases if c.state != "pass"}
        assert failed["verdict::test_nfs_nbd_ratio"] == "new-failure"
        assert failed["verdict::test_kernel_health"] == "new-failure"
        assert third.new_findings == {"blade1": ["hung_task"]}
        text = render(third)
        assert "last good 6.1.0-57-amd64, first bad 5.10.0-46-amd64" in text and "REGRESSION" in text
        fourth = _ingest(h, "kernel-6.1-c")
        assert fourth.exit_code == 0, render(fourth)
        states = {c.case: c.state for c in fourth.cases}
        assert states["verdict::test_nfs_nbd_ratio"] == "fixed" and states["verdict::test_kernel_health"] == "fixed"
        assert not fourth.regressions
        metrics = {m.metric.split("@")[0]: m for m in fourth.metrics}
        assert metrics["ratio"].state == "fixed" and metrics["hog.nfs.s"].state == "fixed"
        assert metrics["ratio"].first_bad is not None and metrics["ratio"].first_bad.seq == 4


def test_the_same_run_twice_is_one_night_even_from_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "copied-by-jenkins"
    shutil.copytree(RUNS / "kernel-6.1-a", copy)
    with _open(tmp_path) as h:
        _ingest(h, "kernel-6.1-a")
        _ingest(h, copy)
        _ingest(h, "kernel-6.1-a")
        assert [n.seq for n in h.nights("virtual")] == [1]


def test_the_cli_ingests_in_the_order_given_and_verdict_exits_as_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "h.db")
    runs = [str(RUNS / r) for r in ("kernel-6.1-a", "kernel-6.1-b", "kernel-5.10")]
    assert cli.main(["history", "ingest", *runs, "--history", db]) == 0
    assert cli.main(["history", "verdict", "--history", db]) == 1
    assert "last good 6.1.0-57-amd64, first bad 5.10.0-46-amd64" in capsys.readouterr().out
    assert cli.main(["history", "verdict", "--history", db, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == 1 and doc["tonight"]["kernel"] == "5.10.0-46-amd64"
    assert cli.main(["history", "baseline", "--history", db, "--night", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["history", "trend", "--history", db, "--json"]) == 0
    trend = json.loads(capsys.readouterr().out)
    assert trend["series"][0]["change_point_night"] == 3
    assert cli.main(["history", "show", "--history", db, "--nights", "100000"]) == 2
    assert "--nights 100000: give 1 to" in capsys.readouterr().err


# -- case states ---------------------------------------------------------------------------------------------
def _nights(kernels: list[str]) -> list[NightRef]:
    return [
        NightRef(
            id=i,
            seq=i,
            lab="lab",
            release=k,
            package_sha256=k * 4,
            commit=None,
            label=None,
            finished=f"2026-12-{i:02d}",
            exit_code=0,
        )
        for i, k in enumerate(kernels, 1)
    ]


def _case_data(outcomes: list[str], reruns: list[str | None] | None = None) -> SeriesData:
    d = SeriesData(names={1: SeriesName("r1", "b1", "blades", "case", "hog::test_hog[t1-nfs]")})
    for i, o in enumerate(outcomes, 1):
        d.cases[(1, i)] = (o, (reruns or [None] * len(outcomes))[i - 1], "" if o == "pass" else "hog failed")
    return d


def test_a_failure_every_night_from_night_k_is_new_once_then_still_failing() -> None:
    outcomes = ["pass"] * 5 + ["failure"] * 4
    kernels = [f"6.1.{i}" for i in range(9)]
    states = [judge(_nights(kernels)[:n], _case_data(outcomes[:n])).cases[0] for n in range(1, 10)]
    assert [c.state for c in states] == ["pass"] * 5 + [
        "new-failure",
        "still-failing",
        "still-failing",
        "still-failing",
    ]
    assert (
        states[-1].nights == 4 and states[-1].last_good.release == "6.1.4" and states[-1].first_bad.release == "6.1.5"
    )  # type: ignore[union-attr]


def test_infrastructure_errors_neither_break_nor_extend_a_failure() -> None:
    outcomes = ["pass", "failure", "error", "failure"]
    v = judge(_nights(["a", "b", "c", "d"]), _case_data(outcomes))
    assert v.cases[0].state == "still-failing" and v.cases[0].nights == 2
    infra = judge(_nights(["a", "b"]), _case_data(["pass", "error"]))
    assert infra.cases[0].state == "infrastructure" and infra.exit_code == 2 and not infra.regressions


def test_a_case_failing_at_random_on_one_kernel_is_flaky_never_a_regression() -> None:
    import random

    rng = random.Random(7)  # noqa: S311 - synthetic outcomes, not a secret
    outcomes = ["pass"] + ["failure" if rng.random() < 0.2 else "pass" for _ in range(29)]
    assert outcomes.count("failure") >= 3
    for n in range(1, 31):
        v = judge(_nights(["6.1.0-57"] * n), _case_data(outcomes[:n]))
        assert not v.regressions, (n, render(v))
        if outcomes[n - 1] == "failure":
            assert v.cases[0].state == "flaky" and v.cases[0].rate is not None and 0 < v.cases[0].rate < 0.5


def test_a_first_failure_whose_rerun_passes_is_flaky() -> None:
    v = judge(_nights(["a", "b"]), _case_data(["pass", "failure"], [None, "pass"]))
    assert v.cases[0].state == "flaky" and v.exit_code == 0
    confirmed = judge(_nights(["a", "b"]), _case_data(["pass", "failure"], [None, "failure"]))
    assert confirmed.cases[0].state == "new-failure" and confirmed.exit_code == 1


def test_a_fix_names_how_long_it_failed() -> None:
    v = judge(_nights(["a", "b", "c", "d"]), _case_data(["pass", "failure", "failure", "pass"]))
    assert v.cases[0].state == "fixed" and v.cases[0].nights == 2 and v.exit_code == 0


# -- known issues --------------------------------------------------------------------------------------------
def test_a_known_issue_is_expected_until_it_expires(tmp_path: Path) -> None:
    f = tmp_path / known.FILE
    f.write_text(
        "- case: 'hog::test_hog[*]'\n  finding: '*hog failed*'\n  bug: https://bugs.example.org/1\n"
        "  expires: 2027-01-31\n"
    )
    issues = known.load(f)
    v = judge(_nights(["a", "b"]), _case_data(["pass", "failure"]), issues, today="2026-12-06")
    assert v.cases[0].state == "known-issue" and v.cases[0].bug == "https://bugs.example.org/1" and v.exit_code == 0
    late = judge(_nights(["a", "b"]), _case_data(["pass", "failure"]), issues, today="2027-02-01")
    assert late.cases[0].state == "new-failure" and late.expired_known and late.exit_code == 1


def test_a_malformed_known_issues_file_names_every_problem(tmp_path: Path) -> None:
    f = tmp_path / known.FILE
    f.write_text(
        "- case: x\n  bug: javascript:alert(1)\n  expires: someday\n- 3\n- {case: y, bug: 'https://b/2', "
        "expires: 2027-01-01, owner: me}\n"
    )
    with pytest.raises(HistoryInputError) as e:
        known.load(f)
    text = "\n".join(e.value.problems)
    assert "entry 1: bug must be an http(s) link" in text and "entry 1: expires must be a date" in text
    assert "entry 2: not a mapping" in text and "entry 3: unknown key(s) owner" in text
    link = tmp_path / "link.yml"
    link.symlink_to(f)
    with pytest.raises(HistoryInputError, match="cannot read"):
        known.load(link)


# -- hostile input -------------------------------------------------------------------------------------------
def test_a_history_path_through_a_symlink_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)
    (tmp_path / "h.db").symlink_to(real / "other.db")
    for given in (tmp_path / "via" / "h.db", tmp_path / "h.db"):
        assert cli.main(["history", "ingest", str(RUNS / "kernel-6.1-a"), "--history", str(given)]) == 2
        assert "goes through a symbolic link" in capsys.readouterr().err
    assert list(real.iterdir()) == []
    (tmp_path / "not-sqlite.db").write_text("hello")
    with pytest.raises(HistoryInputError, match="not a SQLite database"):
        target(str(tmp_path / "not-sqlite.db"))


def test_a_postgresql_url_with_a_password_is_refused_without_printing_it() -> None:
    with pytest.raises(HistoryInputError) as e:
        target("postgresql://swaplab:s3cret-pw@db.example/history")
    assert "s3cret-pw" not in str(e.value) and "SWAPLAB_HISTORY_PASSWORD" in str(e.value)
    with pytest.raises(HistoryInputError, match="not supported"):
        target("mysql://db/history")


def test_a_tampered_row_is_named_and_nothing_is_judged_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "history.db"
    with _open(tmp_path) as h:
        _ingest(h, "kernel-6.1-a")
        _ingest(h, "kernel-6.1-b")
    con = sqlite3.connect(db)
    con.execute("UPDATE metrics SET value = 'NaN-ish' WHERE rowid = (SELECT min(rowid) FROM metrics)")
    con.commit()
    con.close()
    assert cli.main(["history", "verdict", "--history", str(db)]) == 2
    err = capsys.readouterr().err
    assert "metrics.value" in err and "not a row swaplab wrote" in err and "Traceback" not in err
    con = sqlite3.connect(db)
    con.execute("UPDATE metrics SET value = 1.0, samples = '[1e999]'")
    con.commit()
    con.close()
    assert cli.main(["history", "verdict", "--history", str(db)]) == 2


def _forged(tmp_path: Path, edit: object) -> Path:
    run = tmp_path / "forged"
    shutil.copytree(RUNS / "kernel-6.1-b", run)
    doc = json.loads((run / "results.json").read_text())
    edit(doc)  # type: ignore[operator]
    (run / "results.json").write_text(json.dumps(doc))
    return run


def test_a_run_claiming_another_kernels_identity_is_refused(tmp_path: Path) -> None:
    def rename(doc: dict) -> None:  # type: ignore[type-arg]
        doc["kernel"]["release"] = "6.6.0-1-amd64"

    def mixed(doc: dict) -> None:  # type: ignore[type-arg]
        doc["blades"][0]["properties"]["kernel.sha256"] = "0" * 64

    with _open(tmp_path) as h:
        _ingest(h, "kernel-6.1-a")
        with pytest.raises(HistoryInputError, match="claims another kernel's identity"):
            _ingest(h, _forged(tmp_path / "a", rename))
        with pytest.raises(HistoryInputError, match="contradicts itself"):
            _ingest(h, _forged(tmp_path / "b", mixed))
        assert [n.seq for n in h.nights("virtual")] == [1]


def test_a_hundred_thousand_nights_are_read_in_a_bounded_window(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    with _open(tmp_path) as h:
        _ingest(h, "kernel-6.1-a")
    con = sqlite3.connect(db)
    sid = con.execute("SELECT id FROM series WHERE kind='metric' AND name LIKE 'ratio%'").fetchone()[0]
    con.executemany(
        "INSERT INTO nights (run_key, lab, seq, kernel_id, finished, exit_code) VALUES (?, 'virtual', ?, 1, "
        "'2026-12-06T00:00:00Z', 0)",
        ((f"k{i}", i) for i in range(2, 100_002)),
    )
    con.execute(
        "INSERT INTO metrics (night_id, series_id, value, samples) SELECT id, ?, 1.0 + (id % 7) / 100.0, "
        "'[1.0, 1.05]' FROM nights WHERE seq > 1",
        (sid,),
    )
    con.commit()
    con.close()
    with _open(tmp_path) as h:
        t = time.monotonic()
        v = commands.verdict_for(h, "virtual", [])
        took = time.monotonic() - t
        assert v.tonight.seq == 100_001 and len(h.nights("virtual")) == store.WINDOW
        assert took < 30  # bounded: a window, not 100,000 nights (the figure itself is bench/bench_history.py's)


# -- the schema's upgrade ------------------------------------------------------------------------------------
def test_an_upgrade_from_the_first_schema_keeps_every_row(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    db = tmp_path / "history.db"
    engine = create_engine(f"sqlite:///{db}")
    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql("INSERT INTO kernels (id, package_sha256, release) VALUES (1, '" + "a" * 64 + "', '6.1')")
        conn.exec_driver_sql("INSERT INTO nights VALUES (1, 'key', 'virtual', 1, 1, NULL, '2026-12-01T00:00:00Z', 0)")
        conn.exec_driver_sql("INSERT INTO series VALUES (1, 'virtual', 'virtual', 'blade1', 'blades', 'case', 'c::t')")
        conn.exec_driver_sql("INSERT INTO cases VALUES (1, 1, 'failure', 'it failed')")
    engine.dispose()
    with _open(tmp_path) as h:
        assert h.revision() == "0002"
        nights = h.nights("virtual")
        data = h.series("virtual", [n.id for n in nights])
        assert data.cases == {(1, 1): ("failure", None, "it failed")} and nights[0].release == "6.1"


def test_the_error_tree_decides_exit_codes_and_junit_kinds() -> None:
    assert (errors.exit_code(HistoryInputError("x")), errors.junit_kind(HistoryInputError("x"))) == (2, "error")
    assert (errors.exit_code(store.HistoryUnavailable("x")), errors.junit_kind(store.HistoryUnavailable("x"))) == (
        2,
        "error",
    )
    assert (errors.exit_code(errors.KernelFailure("x")), errors.junit_kind(errors.KernelFailure("x"))) == (1, "failure")
    assert errors.kind_of(ValueError("x")) is errors.SwaplabBug and errors.exit_code(KeyError("x")) == 2
    assert errors.kind_of(KeyboardInterrupt()) is errors.Infrastructure
    assert "please report it" in errors.message(ZeroDivisionError("boom"))


# -- detection quality, the fast version of bench/bench_detect.py ---------------------------------------------
def test_detection_finds_steps_and_keeps_quiet_on_noise() -> None:
    sys.path.insert(0, str(BENCH))
    import bench_detect

    # The figures at 200 seeds are bench/README.md's; these hold the detector to what it measured there.
    quiet = bench_detect.scenario(0.0, range(30))
    assert quiet["false_alarms_per_100_nights"] <= 1.0
    big = bench_detect.scenario(0.25, range(30))
    assert big["found_within_2_nights_pct"] >= 90 and big["never_found_pct"] == 0
    ten = bench_detect.scenario(0.10, range(30))
    assert ten["found_within_3_nights_pct"] >= 50 and ten["never_found_pct"] <= 10


def test_a_racks_blades_of_one_class_are_pooled_and_find_a_ten_percent_step() -> None:
    """The fast version of ``bench_detect.py --blades``: three blades of a class pooled find a +10% step
    within 3 nights where one blade alone often cannot, and stay quiet on noise."""
    sys.path.insert(0, str(BENCH))
    import bench_detect

    quiet = bench_detect.scenario(0.0, range(20), blades=3)
    assert quiet["false_alarms_per_100_nights"] <= 1.0
    ten = bench_detect.scenario(0.10, range(20), blades=3)
    assert ten["found_within_3_nights_pct"] >= 90, ten
    # Through the verdict itself: three blades' ratio series with a +10% step on night 40 (of 42).
    metric = "ratio@2x/192MiB"
    data = SeriesData(names={b: SeriesName("r1", f"b{b}", "gen9", "metric", metric) for b in (1, 2, 3)})
    for b in (1, 2, 3):
        for n, samples in enumerate(bench_detect.series(b, 0.10, nights=42), 1):
            value = bench_detect._value(samples)
            data.metrics[(b, n)] = store.MetricValue(value * (1 + b / 10), None, None,
                                                     tuple(x * (1 + b / 10) for x in samples))  # fmt: skip
    v = judge(_nights([f"6.1.{i}" for i in range(42)]), data)
    pooled = next(m for m in v.metrics if m.blade == "3 blades of gen9")
    assert pooled.state in ("new-regression", "regressed") and pooled.first_bad is not None, pooled
    assert pooled.first_bad.seq in (39, 40, 41) and pooled.change_pct is not None and 5 < pooled.change_pct < 16
    assert pooled in v.regressions or pooled.state == "regressed"
    one = judge(_nights([f"6.1.{i}" for i in range(42)]), SeriesData(names={1: data.names[1]},
                metrics={k: val for k, val in data.metrics.items() if k[0] == 1}))  # fmt: skip
    assert not [m for m in one.metrics if "blades of" in m.blade]  # one blade: no pooled series


@pytest.fixture(autouse=True)
def _no_history_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(store.HISTORY_ENV, raising=False)
    monkeypatch.delenv(store.PASSWORD_ENV, raising=False)
    os.environ.pop("PGPASSWORD", None)


# -- what the outputs say -------------------------------------------------------------------------------------
def test_the_outputs_say_what_changed_and_jenkins_agrees(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from swaplab.history import nightly
    from swaplab.report import junit
    from swaplab.report.outputs import SCHEMA_XSD, write_outputs
    from swaplab.report.results import RunResult

    known_file = tmp_path / known.FILE
    known_file.write_text("- case: 'fio::test_fio_under_pressure[nbd]'\n  bug: https://bugs.example.org/77\n"
                          "  expires: 2099-01-01\n")  # fmt: skip
    opts = nightly.HistoryOptions(history=str(tmp_path / "h.db"), lab="virtual", known_issues=str(known_file))
    for run in ("kernel-6.1-a", "kernel-6.1-b"):
        nightly.remember(opts, RUNS / run, lambda _m: None)
    v = nightly.remember(opts, RUNS / "kernel-5.10", lambda _m: None)
    result = RunResult.load(RUNS / "kernel-5.10" / "results.json")
    nightly.apply(result, v)
    out = tmp_path / "out"
    out.mkdir()
    assert write_outputs(out, result, lambda _m: None) == []
    xml = (out / "junit.xml").read_bytes()
    assert junit.validate(xml, SCHEMA_XSD) is None
    cases = {c.get("name"): c for c in ET.fromstring(xml).iter("testcase")}
    ratio = cases["test_nfs_nbd_ratio"].find("failure")
    assert ratio is not None and (ratio.get("message") or "").startswith(
        "new failure; last good 6.1.0-57-amd64, first bad 5.10.0-46-amd64")  # fmt: skip
    known_case = cases["test_fio_under_pressure[nbd]"].find("skipped")
    assert known_case is not None and "https://bugs.example.org/77" in (known_case.get("message") or "")
    step = next(c for n, c in cases.items() if n.startswith("no change in ratio@"))
    assert "regressed" in (step.find("failure").get("message") or "")  # type: ignore[union-attr]
    props = {p.get("name"): p.get("value") for p in ET.fromstring(xml).iter("property")}
    assert props["change.verdict::test_nfs_nbd_ratio"] == "new-failure"
    assert props["change.fio::test_fio_under_pressure[nbd]"] == "known-issue"
    page = (out / "report.html").read_text()
    assert '<section id="changes">' in page and "new-failure" in page and "<svg" in page.split('id="changes"')[1]
    back = RunResult.load(out / "results.json")
    assert back.changes is not None and back.changes["regressions"] == len(v.regressions) and back.exit_code == 1
