"""A run directory is untrusted input (Jenkins copies them between builds), parsers are
bounded, everything printed is shown not obeyed, a signal during validation leaves nothing running, and the
smaller refusals. Each test fails on the code before the fix."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from swaplab.cli import main
from swaplab.records import HogTrial
from swaplab.report import journal
from swaplab.report.model import BladeResult, Case
from swaplab.report.results import MAX_RESULTS_BYTES, KernelRecord, RunResult

from .test_inventory import GOOD, _problems


def _run(tmp_path: Path, outcome: str = "failed") -> Path:
    d = tmp_path / "run"
    d.mkdir(exist_ok=True)
    (d / "blade1" / "loads").mkdir(parents=True, exist_ok=True)
    (d / "blade1" / "console.log").write_text("ok\n")
    case = Case("blade1", "hog", "test_hog[t1-nfs]", outcome, 1.0, message="OOM kill of sshd",
                records=[HogTrial("nfs", 1, "done", 60.0, 3.0, 384)],
                attachments=["/etc/shadow", str(d / "blade1" / "console.log"), "/elsewhere/run/blade1/console.log",
                             "blade1/../../../etc/passwd"])  # fmt: skip
    RunResult(exit_code=1, kernel=KernelRecord(release="6.1.0-57-amd64", sha256="0" * 64),
              blades=[BladeResult("blade1", cases=[case])]).save(d / "results.json")  # fmt: skip
    return d


def _doc(d: Path) -> dict[str, Any]:
    return dict(json.loads((d / "results.json").read_text()))


@pytest.mark.parametrize("kind", ["fifo", "link-to-zero", "link-out", "huge"])
def test_a_results_json_that_is_not_a_regular_file_inside_is_one_clear_refusal(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a FIFO hung `report` and `compare` for ever; /dev/zero was read without limit."""
    d = _run(tmp_path)
    (d / "results.json").unlink()
    if kind == "fifo":
        os.mkfifo(d / "results.json")
    elif kind == "link-to-zero":
        (d / "results.json").symlink_to("/dev/zero")
    elif kind == "link-out":
        (tmp_path / "other.json").write_text("{}")
        (d / "results.json").symlink_to(tmp_path / "other.json")
    else:
        with (d / "results.json").open("wb") as f:
            f.truncate(MAX_RESULTS_BYTES + (1 << 20))  # sparse: 1 MiB past the cap, of nothing
    t0 = time.monotonic()
    assert main(["report", str(d)]) == 2
    assert main(["compare", str(d), str(d)]) == 2
    assert time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    assert {"fifo": "not a regular file", "link-to-zero": "cannot read it", "link-out": "cannot read it",
            "huge": f"more than the {MAX_RESULTS_BYTES}"}[kind] in err  # fmt: skip
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda doc: doc["blades"][0]["cases"][0].update(seconds="soon"), "at blades/0/cases/0/seconds"),
        (lambda doc: doc["blades"][0]["cases"][0]["records"][0].update(total_s="Infinity"), "records/0/total_s"),
        (lambda doc: doc["blades"][0]["cases"][0].update(outcome=["failed"]), "at blades/0/cases/0/outcome"),
        (lambda doc: doc["blades"][0].update(name="../../etc"), "blade name '../../etc' is not a host name"),
        (lambda doc: doc.update(kernel=[1, 2]), "at kernel"),
    ],
)  # fmt: skip
def test_malformed_values_are_one_line_not_a_traceback(tmp_path: Path, change: Any, needle: str) -> None:
    """Before: 21 different tracebacks for strings as numbers, lists as kinds, and the like."""
    d = _run(tmp_path)
    doc = _doc(d)
    change(doc)
    (d / "results.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError) as e:
        RunResult.load(d / "results.json")
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


@pytest.mark.parametrize(
    "text", ['{"schema": 2, "exit_code": Infinity}', "[" * 100000 + "]" * 100000, '{"schema": 2, "x": NaN}']
)
def test_non_json_numbers_and_deep_nesting_are_refused(tmp_path: Path, text: str) -> None:
    d = _run(tmp_path)
    (d / "results.json").write_text(text)
    with pytest.raises(ValueError, match="cannot read it"):
        RunResult.load(d / "results.json")


def test_the_verdict_is_the_cases_not_the_files_word(tmp_path: Path) -> None:
    """Before: the page said pass over a failed case when the file's exit_code said 0."""
    d = _run(tmp_path)
    doc = _doc(d)
    doc.update(exit_code=0, verdict="pass")
    (d / "results.json").write_text(json.dumps(doc))
    assert RunResult.load(d / "results.json").verdict == "kernel failure"
    assert main(["report", str(d)]) == 0
    assert "kernel failure" in (d / "report.html").read_text()


def test_attachments_outside_the_run_directory_are_dropped(tmp_path: Path) -> None:
    """Before: [[ATTACHMENT|/etc/shadow]] went into JUnit verbatim."""
    d = _run(tmp_path)
    case = RunResult.load(d / "results.json").blades[0].cases[0]
    assert case.attachments == [str(d / "blade1" / "console.log"), str(d / "blade1" / "console.log")]
    assert main(["report", str(d)]) == 0
    xml = (d / "junit.xml").read_text()
    assert "/etc/shadow" not in xml and "/etc/passwd" not in xml


def test_a_load_name_from_the_file_cannot_lead_the_report_out(tmp_path: Path) -> None:
    """Before: `report` read timelines at ../ paths taken from results.json."""
    from swaplab.report import timeline

    d = _run(tmp_path)
    (tmp_path / "secret.csv").write_text("uptime_s,pswpin\n1,2\n")
    assert timeline.read(d, "blade1/loads/../../../secret.csv") == ""
    assert timeline.read(d, tmp_path / "secret.csv") == ""


def test_a_journal_that_is_a_fifo_or_names_a_hostile_blade(tmp_path: Path) -> None:
    d = tmp_path / "run"
    d.mkdir()
    os.mkfifo(d / "journal.jsonl")
    with pytest.raises(ValueError, match="not a regular file"):
        journal.read(d)
    (d / "journal.jsonl").unlink()
    good = Case("blade1", "hog", "test_hog[t1-nfs]", "passed", 1.0).to_dict()
    bad = dict(good, blade="../../x")
    lines = [{"event": "run", "kernel": {}, "options": {}, "blades": ["blade1"]},
             {"event": "finished", "nodeid": "a", "case": good}, {"event": "finished", "nodeid": "b", "case": bad},
             {"event": "finished", "nodeid": "c", "case": dict(good, seconds="NaN")}]  # fmt: skip
    (d / "journal.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn")
    st = journal.read(d)
    assert [c.blade for _, c in st.finished] == ["blade1"] and st.unreadable == 3


def test_resume_refuses_another_inventory_and_other_blades(tmp_path: Path) -> None:
    """Before: --resume of another lab's interrupted run was accepted and dropped that run's finished cases."""
    from swaplab.options import RunOptions
    from swaplab.run import Run, RunError, resume_options

    d = tmp_path / "run"
    d.mkdir()
    j = journal.Journal(d)
    j.run(KernelRecord(release="6.1", sha256="0" * 64), RunOptions(inventory=str(tmp_path / "a.yml")).to_json(),
          ["r1-b01", "r1-b02"])  # fmt: skip
    with pytest.raises(RunError, match=r"that run used the inventory .*a\.yml, not .*b\.yml"):
        resume_options(RunOptions(inventory=str(tmp_path / "b.yml"), resume=str(d)))
    prior = journal.read(d)
    from swaplab.run import Checked

    run = Run(RunOptions(names=["r1-b01", "r9-b01"], resume=str(d)), lambda _m: None)
    with pytest.raises(RunError, match="not here: r1-b02; not in that run: r9-b01"):
        run._same_blades(prior, Checked([]))


def test_resume_says_which_new_options_it_ignores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from swaplab.options import RunOptions
    from swaplab.run import resume_options

    d = tmp_path / "run"
    d.mkdir()
    journal.Journal(d).run(KernelRecord(release="6.1", sha256="0" * 64), RunOptions(trials=3).to_json(), ["blade1"])
    opts = resume_options(RunOptions(trials=7, resume=str(d)))
    assert opts.trials == 3
    assert "ignored: --trials 7 (the run's: 3)" in capsys.readouterr().err  # named as the user typed it


# --- parsers, printing, signals ------------------------------------------------------------------------------


def test_an_ar_member_of_negative_size_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a 132-byte .deb whose ar member says -60 bytes looped forever in check-kernel and run."""
    hdr = b"!<arch>\n" + b"debian-binary/  " + b"0           " + b"0     0     100644  " + b"-60       " + b"`\n"
    deb = tmp_path / "linux-image-x.deb"
    deb.write_bytes(hdr + b"2.0\n" + b"x" * (132 - len(hdr) - 4))
    t0 = time.monotonic()
    assert main(["check-kernel", str(deb)]) == 2
    assert time.monotonic() - t0 < 5 and "has no valid size" in capsys.readouterr().err
    big = hdr[:56] + b"99999999  " + b"`\n"
    deb.write_bytes(big + b"2.0\n")
    assert main(["check-kernel", str(deb)]) == 2
    assert "past the end of the file" in capsys.readouterr().err


def test_scan_log_keeps_a_bounded_number_of_findings_and_counts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: every finding of an endless stream was kept in memory."""
    from swaplab.detect import detector

    monkeypatch.setattr(detector, "MAX_KEPT_FINDINGS", 10)
    log = tmp_path / "dmesg.txt"
    log.write_text("".join(f"[{i}.000000] Out of memory: Killed process {100 + i} (hog) total-vm:1kB\n"
                           for i in range(1, 51)))  # fmt: skip
    assert main(["scan-log", str(log)]) == 1
    out = capsys.readouterr().out
    assert out.count("oom_kill") == 10 and "50 findings: 50 fail" in out and "(40 past the first 10 not listed)" in out


def test_what_a_log_or_a_package_says_is_shown_not_obeyed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: scan-log passed C1 controls and escapes; check-kernel printed a forged 'verdict: fit' line."""
    from swaplab.kernel.check import Check, Verdict, render_text

    log = tmp_path / "console.log"
    log.write_bytes("[ 1.000000] Kernel panic - not syncing: \u009b2J\u0085\x7f x\n".encode())
    main(["scan-log", str(log)])
    out = capsys.readouterr().out
    assert "\x9b" not in out and "\x85" not in out and "\x7f" not in out and "\\x9b2J\\x85\\x7f x" in out
    v = Verdict("k.deb", "deb", "6.1\nverdict: fit for the swap-over-NFS suite", None,
                checks=[Check("CONFIG_NFS_SWAP", "fail", "unset\x1b[2J")])  # fmt: skip
    text = render_text(v)
    assert text.splitlines()[-1] == "verdict: UNFIT: CONFIG_NFS_SWAP" and "\x1b" not in text
    assert "6.1\\x0averdict: fit" in text.splitlines()[0]


def test_a_signal_during_validation_leaves_no_ansible_inventory_running(tmp_path: Path) -> None:
    """Before: SIGTERM while ansible-inventory read the inventory left it running as an orphan."""
    from swaplab.inventory import load

    pidfile = tmp_path / "pid"
    slow = tmp_path / "ansible-inventory"
    slow.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 60\n")
    slow.chmod(0o755)
    (tmp_path / "hosts.yml").write_text("all: {}\n")

    def interrupt(_s: int, _f: object) -> None:
        raise KeyboardInterrupt("signal 15")

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            load(str(tmp_path / "hosts.yml"), str(slow))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_run_says_it_was_interrupted_while_validating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from swaplab import run as run_module
    from swaplab.options import RunOptions

    def validate(_o: object, _l: object) -> Any:
        raise KeyboardInterrupt("signal 15")

    monkeypatch.setattr(run_module, "validate", validate)
    assert run_module.main(RunOptions(), lambda _m: None) == 2
    assert "interrupted (signal 15) while checking" in capsys.readouterr().err
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# --- the smaller items ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("power", "needle"),
    [
        ({"port": True}, "ipmi port True is not a port number"),
        ({"cipher_suite": True}, "ipmi cipher_suite True is not an IPMI cipher suite"),
        ({"cipher_suite": 0}, "cipher_suite 0 has no authentication at all"),
    ],
)
def test_bools_are_not_numbers_and_cipher_suite_0_is_refused(power: dict[str, Any], needle: str) -> None:
    base = {"driver": "ipmi", "host": "bmc1", "user": "u", "password": "{{ vault_pw }}"}
    assert needle in _problems(GOOD | {"swaplab_power": base | power})


def test_one_address_spelled_two_ways_is_a_duplicate() -> None:
    from swaplab.inventory import validate

    from .test_inventory import inv

    blades = {"b1": GOOD | {"ansible_host": "127.0.0.1"},
              "b2": GOOD | {"ansible_host": "::ffff:127.0.0.1", "swaplab_mac": "52:54:00:00:00:12"}}  # fmt: skip
    assert "b2: address ::ffff:127.0.0.1 is also b1's" in "\n".join(
        validate(inv(blades, {"swaplab_lab_address": "10.0.0.1"}))
    )


def test_addresses_that_would_share_a_nas_export_id_are_refused() -> None:
    """Ganesha's export ids come from the low 15 bits of each blade's address (stable when a blade is added)."""
    from swaplab.inventory import validate

    from .test_inventory import inv

    blades = {"b1": GOOD | {"ansible_host": "10.0.1.5"},
              "b2": GOOD | {"ansible_host": "10.0.129.5", "swaplab_mac": "52:54:00:00:00:12"},
              "b3": GOOD | {"ansible_host": "10.0.128.0", "swaplab_mac": "52:54:00:00:00:13"}}  # fmt: skip
    text = "\n".join(validate(inv(blades, {"swaplab_lab_address": "10.0.0.1"})))
    assert "b2: address 10.0.129.5 has the same low 15 bits as b1's" in text
    assert "b3: address 10.0.128.0 ends in 15 zero bits" in text and "b1:" not in text


def test_a_fault_on_a_load_the_run_will_not_have_is_refused() -> None:
    from swaplab.options import RunOptions
    from swaplab.run import validate

    opts = RunOptions(suites=["config", "hog"], trials=2, precision_pct=0, fault="blade-freeze@fio-hog-nfs+5",
                      kernel="/nonexistent")  # fmt: skip
    problems = validate(opts, lambda _m: None).problems
    assert any("this run has no load 'fio-hog-nfs'" in p and "hog-t2-nbd" in p for p in problems), problems


if sys.platform != "linux":  # pragma: no cover
    pytest.skip("Linux only", allow_module_level=True)


def test_a_tar_member_of_negative_size_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Python's tarfile takes a base-256 size of -1 without a word; a package holding one is refused."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"Package: linux-image-x\n"
        info = tarfile.TarInfo("./control")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    raw = bytearray(buf.getvalue())
    raw[124:136] = b"\xff" * 12  # size -1, base-256
    raw[148:156] = b" " * 8
    raw[148:156] = (f"{sum(raw[:512]):06o}\0 ").encode()
    members = [(b"debian-binary", b"2.0\n"), (b"control.tar", bytes(raw)), (b"data.tar", bytes(1024))]
    deb = bytearray(b"!<arch>\n")
    for name, body in members:
        deb += name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
        deb += str(len(body)).encode().ljust(10) + b"`\n" + body + (b"\n" if len(body) % 2 else b"")
    path = tmp_path / "linux-image-x.deb"
    path.write_bytes(bytes(deb))
    assert main(["check-kernel", str(path)]) == 2
    assert "has a negative size" in capsys.readouterr().err
