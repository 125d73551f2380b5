"""Nothing lost: the journal keeps each case as it finishes; an interrupted run is rebuilt from it alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from swaplab.cli import main
from swaplab.fleet.loads import kill_leftovers
from swaplab.records import HogTrial
from swaplab.report import journal, junit
from swaplab.report.journal import Journal, Planned
from swaplab.report.model import Case
from swaplab.report.results import KernelRecord

XSD = Path(junit.__file__).with_name("junit-10.xsd")
NODE = "tests/fleet/test_hog.py::test_hog[blade1-t{}-{}]"


def _interrupted_run(run_dir: Path) -> None:
    """What a controller killed during the second trial leaves: two cases finished, one started."""
    j = Journal(run_dir)
    j.run(KernelRecord(release="6.1.0-test", sha256="b" * 64), {"trials": 2}, ["blade1"])
    j.finished(Case("blade1", "provision", "provision", "passed", 130.0))
    j.planned(
        [Planned(NODE.format(t, s), "blade1", "hog", f"test_hog[t{t}-{s}]") for t in (1, 2) for s in ("nfs", "nbd")]
    )
    for i, (t, s) in enumerate([(1, "nfs"), (1, "nbd"), (2, "nfs")]):
        j.started(NODE.format(t, s))
        if i < 2:
            trial = HogTrial(store=s, trial=t, status="done", total_s=100.0 + i, swap_mib_per_s=3.0, mib=240)
            j.finished(Case("blade1", "hog", f"test_hog[t{t}-{s}]", "passed", 101.0, records=[trial]),
                       NODE.format(t, s))  # fmt: skip
    with (run_dir / "journal.jsonl").open("a") as f:
        f.write('{"event": "finished", "case": {"blade": "bla')  # torn by the kill


def test_an_interrupted_run_is_rebuilt_from_its_journal(tmp_path: Path) -> None:
    _interrupted_run(tmp_path)
    st = journal.read(tmp_path)
    assert not st.done and [c.name for _, c in st.finished] == ["provision", "test_hog[t1-nfs]", "test_hog[t1-nbd]"]
    assert st.finished_nodeids() == {NODE.format(1, "nfs"), NODE.format(1, "nbd")}
    result = journal.rebuild(tmp_path)
    cases = {c.name: c for b in result.blades for c in b.cases}
    assert cases["test_hog[t1-nfs]"].outcome == "passed" and cases["test_hog[t1-nfs]"].records  # kept whole
    assert cases["test_hog[t2-nfs]"].outcome == "error" and "interrupted" in cases["test_hog[t2-nfs]"].message
    assert cases["test_hog[t2-nbd]"].outcome == "skipped" and "never started" in cases["test_hog[t2-nbd]"].message
    assert result.exit_code == 2 and result.kernel.release == "6.1.0-test"


def test_swaplab_report_writes_a_valid_junit_from_the_journal_alone(tmp_path: Path) -> None:
    _interrupted_run(tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    xml = (tmp_path / "junit.xml").read_bytes()
    assert junit.validate(xml, XSD) is None
    assert b'name="test_hog[t1-nbd]"' in xml and b"interrupted" in xml and (tmp_path / "report.html").is_file()
    assert (tmp_path / "results.json").is_file()  # and the results, from the journal


def test_a_finished_run_is_not_resumed(tmp_path: Path, capsys: object) -> None:
    _interrupted_run(tmp_path)
    Journal(tmp_path).write("done", exit_code=0)
    assert main(["run", "--resume", str(tmp_path)]) == 2


def test_leftover_loads_are_stopped_by_their_recorded_pid_and_only_theirs(tmp_path: Path) -> None:
    loads = tmp_path / "loads"
    running, finished, stale = loads / "hog-t1-nfs", loads / "fio-nfs", loads / "hog-t0-nbd"
    for d in (running, finished, stale):
        d.mkdir(parents=True)
    (running / "job.sh").write_text("sleep 300\n")
    job = subprocess.Popen(["setsid", "sh", "job.sh"], cwd=running)
    (running / "pid").write_text(f"{job.pid}\n")
    (finished / "state").write_text("done\n")
    # What the job saw before it switched the other swap area off: restored with its priority. `swapon` is a
    # stand-in here (on PATH first) that records what it was asked.
    (running / "swaps.before").write_text("Filename Type Size Used Priority\n/dev/nbd0 partition 655356 0 5\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "swapon").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "swapon.log"}\n')
    (bin_dir / "swapon").chmod(0o755)
    # The hog, under `timeout` in a process group of its own (as the job runs it): it must go too.
    (running / "hog.py").write_text("import time\ntime.sleep(300)\n")
    hog = subprocess.Popen(["setsid", sys.executable, "hog.py"], cwd=running)
    (running / "hog.pid").write_text(f"{hog.pid}\n")
    bystander = subprocess.Popen(["sleep", "300"])  # a process whose PID a stale pid file now names
    (stale / "pid").write_text(f"{bystander.pid}\n")
    try:
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
        subprocess.run(["sh", "-c", kill_leftovers(str(tmp_path))], check=True, timeout=30, env=env)
        assert (tmp_path / "swapon.log").read_text() == "-p 5 /dev/nbd0\n"
        assert job.wait(10) == -signal.SIGKILL and hog.wait(10) == -signal.SIGKILL
        time.sleep(0.2)
        assert bystander.poll() is None  # not the job's: left alone
    finally:
        for p in (job, hog, bystander):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
