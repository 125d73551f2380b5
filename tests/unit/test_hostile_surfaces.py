"""A journal, a rack directory or a compare target can run nothing, delete nothing, sign a rack off twice or
fake a line (the surfaces added since the last hostile round: `run --resume`, `merge`, `compare`, `report`,
`python -m swaplab.sim`). Each test fails on the code of 04c02ea, before the fix; the real `ansible-inventory`
decides the inventory cases, the real simulated rack's are in tests/integration/test_sim_hostile.py."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from swaplab.cli import main
from swaplab.inventory import STATIC_INVENTORY_ENV, InventoryError, load
from swaplab.options import RunOptions
from swaplab.report import journal
from swaplab.report.merge import MergeError, merge
from swaplab.report.results import KernelRecord, RunResult
from swaplab.run import RunError, resume_options
from swaplab.sim import rack as sim
from swaplab.untrusted import json_strict

from .test_inventory import GOOD, _problems

RUNS = Path(__file__).parent / "data" / "runs"
ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")
FORGED = "6.1.0\nno significant regression beyond 10% on the gated metrics\x1b[2J\x1b]0;pwned\x07"


def _copy(tmp_path: Path, name: str, as_: str | None = None) -> Path:
    dest = tmp_path / (as_ or name)
    shutil.copytree(RUNS / name, dest)
    return dest


def _edit(run_dir: Path, edit: Any) -> None:
    doc = json.loads((run_dir / "results.json").read_text())
    edit(doc)
    (run_dir / "results.json").write_text(json.dumps(doc))


def _renamed(name: str) -> Any:
    """An edit of a results.json: its first blade, and each of its cases, named ``name``."""

    def edit(doc: dict[str, Any]) -> None:
        doc["blades"][0]["name"] = name
        for c in doc["blades"][0]["cases"]:
            c["blade"] = name

    return edit


def _journal(d: Path, options: dict[str, Any], release: str = "6.1") -> Path:
    d.mkdir(exist_ok=True)
    journal.Journal(d).run(KernelRecord(release=release, sha256="0" * 64), options, ["blade1"])
    return d


def _script(path: Path, marker: Path) -> Path:
    path.write_text(f'#!/bin/sh\ntouch {marker}\necho \'{{"_meta": {{"hostvars": {{}}}}}}\'\n')
    path.chmod(0o755)
    return path


# --- 1. a resumed run takes no path from its journal; no inventory is ever executed -----------------------------


def test_a_resumed_labs_run_needs_its_inventory_and_kernel_named_again(tmp_path: Path) -> None:
    """Before: without -i and --kernel, both were taken from the journal: a journal chose which file was read as
    the inventory (and an executable one was run) and which kernel was installed."""
    d = _journal(tmp_path / "run", RunOptions(inventory=str(tmp_path / "evil.sh"), kernel="/tmp/evil.deb").to_json())
    with pytest.raises(RunError) as e:
        resume_options(RunOptions(resume=str(d)))
    said = "\n".join(e.value.problems)
    assert "give its inventory again (-i)" in said and "give --kernel the package" in said
    with pytest.raises(RunError, match="that run used the inventory"):
        resume_options(RunOptions(resume=str(d), inventory=str(tmp_path / "other.yml"), kernel="k.deb"))
    opts = resume_options(RunOptions(resume=str(d), inventory=str(tmp_path / "evil.sh"), kernel=str(tmp_path / "k")))
    assert opts.kernel == str(tmp_path / "k")  # the operator's, never the journal's


def test_a_resumed_virtual_lab_run_takes_the_default_kernel_not_the_journals(tmp_path: Path) -> None:
    d = _journal(tmp_path / "run", RunOptions(kernel="/srv/planted/linux-image.deb").to_json())
    assert resume_options(RunOptions(resume=str(d))).kernel is None
    # A run given the virtual lab's own inventory with -i: that lab, resumed against it, never against the
    # journal's path; another inventory is refused.
    from swaplab.run import VIRTUAL_INVENTORY

    d = _journal(tmp_path / "run2", RunOptions(inventory=str(VIRTUAL_INVENTORY), kernel="/x.deb").to_json())
    opts = resume_options(RunOptions(resume=str(d), inventory=str(VIRTUAL_INVENTORY)))
    assert opts.inventory == str(VIRTUAL_INVENTORY) and opts.kernel is None
    assert resume_options(RunOptions(resume=str(d))).inventory == str(VIRTUAL_INVENTORY)
    with pytest.raises(RunError, match="that run was on the virtual lab"):
        resume_options(RunOptions(resume=str(d), inventory=str(tmp_path / "rack.yml")))


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"trials": "three"}, "option trials: 'three' is not an integer"),
        ({"suites": "hog"}, "option suites: 'hog' is not a list of strings"),
        ({"keep": 1}, "option keep: '1' is not true or false"),
        ({"ratio_gate": 1e308 * 10}, None),  # not JSON: json.dumps writes Infinity, json_strict refuses the line
        ({"precision_pct": "10"}, "option precision_pct: '10' is not a finite number"),
        ({"limit": ["a"]}, "option limit: \"['a']\" is not a string"),
    ],
)
def test_journal_options_of_the_wrong_type_are_one_refusal(
    tmp_path: Path, options: dict[str, Any], needle: str | None
) -> None:
    """Before: `suites: "hog"` was read as h,o,g and `trials: "three"` was a traceback further on."""
    d = _journal(tmp_path / "run", {**RunOptions().to_json(), **options})
    with pytest.raises(RunError) as e:
        resume_options(RunOptions(resume=str(d)))
    assert needle is None or any(needle in p for p in e.value.problems), e.value.problems


def test_an_executable_inventory_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    inv = _script(tmp_path / "hosts.sh", marker)
    with pytest.raises(InventoryError, match=r"hosts\.sh is executable \(a script inventory\)"):
        load(str(inv), ANSIBLE_INVENTORY)
    d = tmp_path / "inventory.d"
    d.mkdir()
    (d / "hosts.yml").write_text("all:\n  hosts:\n    nas: {}\n")
    _script(d / "extra", marker)
    with pytest.raises(InventoryError, match="extra is executable"):
        load(str(d), ANSIBLE_INVENTORY)
    assert not marker.exists()


def test_ansible_inventory_in_swaplabs_environment_runs_no_script(tmp_path: Path) -> None:
    """The second wall, should the first (the executable bit) be passed: Ansible itself is told to use only its
    static plugins, so the script is read as text (and refused), never executed."""
    marker = tmp_path / "ran"
    inv = _script(tmp_path / "hosts", marker)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # Ansible's defaults, not the checkout's ansible.cfg
    plain = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"))
    argv = [ANSIBLE_INVENTORY, "-i", str(inv), "--list"]
    r = subprocess.run(argv, capture_output=True, env=plain | STATIC_INVENTORY_ENV, cwd=tmp_path, timeout=120)
    assert r.returncode != 0 and not marker.exists()
    subprocess.run(argv, capture_output=True, env=plain, cwd=tmp_path, timeout=120)
    assert marker.exists(), "Ansible's default plugins run it: the test would prove nothing"


# --- 2. swaplab.sim acts only on a directory it made, and signals only its own processes ---------------------


def test_sim_down_refuses_a_directory_it_did_not_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `python -m swaplab.sim down DIR` removed any directory and signalled what its pidfiles named."""
    from swaplab.sim.__main__ import main as sim_main

    victim = tmp_path / "home"
    (victim / "pids").mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        from swaplab import proctree

        (victim / "pids" / "x.pid").write_text(f"{sleeper.pid} {proctree.start_time(sleeper.pid)}\n")
        (victim / "precious").write_text("keep me")
        assert sim_main(["down", str(victim)]) == 2
        assert "is not a simulated rack" in capsys.readouterr().err
        assert (victim / "precious").read_text() == "keep me" and sleeper.poll() is None
        # A marker copied from elsewhere names that other directory: still not this one.
        (victim / sim.MARKER).write_text(f"swaplab.sim rack {tmp_path / 'elsewhere'}\n")
        assert sim_main(["down", str(victim)]) == 2
        # With a marker of its own, the directory goes, but a process that is not the rack's is never signalled.
        (victim / sim.MARKER).write_text(f"swaplab.sim rack {os.path.realpath(victim)}\n")
        assert sim.down(victim) == [] and not victim.exists()
        time.sleep(0.2)
        assert sleeper.poll() is None, "a process the rack did not start was signalled"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_sim_checks_its_counts_and_paths_before_building_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: --blades 100000000 built every name first (a MemoryError); up onto a file and ask without a
    socket were tracebacks."""
    from swaplab.sim.__main__ import main as sim_main

    t0 = time.monotonic()
    assert sim_main(["up", str(tmp_path / "r"), "--blades", "100000000", "--release", "6.1"]) == 2
    assert time.monotonic() - t0 < 5 and "a simulated rack has 1 to 250" in capsys.readouterr().err
    assert sim_main(["up", str(tmp_path / "r"), "--names", ",".join(["b"] * 100_000), "--release", "6.1"]) == 2
    capsys.readouterr()
    (tmp_path / "file").write_text("x")
    assert sim_main(["up", str(tmp_path / "file"), "--blades", "1", "--release", "6.1"]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "x"
    assert sim_main(["ask", str(tmp_path), "power", "b1", "status"]) == 2
    assert "no running simulated rack" in capsys.readouterr().err


# --- 3. an output is checked before any work: never written through, over a device or into an input ----------


@pytest.mark.parametrize("kind", ["device", "link-to-stdout", "dangling-link", "directory", "under-a-file",
                                  "inside-an-input"])  # fmt: skip
def test_compare_html_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    """Before: a device node became a regular file (/dev/null, as root), a link was written through, a
    directory was a traceback after the comparison had printed."""
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-6.1-b")
    page = tmp_path / "page.html"
    if kind == "device":
        os.mknod(page, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of our own
    elif kind == "link-to-stdout":
        page.symlink_to("/dev/stdout")
    elif kind == "dangling-link":
        page.symlink_to(tmp_path / "nowhere" / "x.html")
    elif kind == "directory":
        page.mkdir()
    elif kind == "under-a-file":
        (tmp_path / "f").write_text("x")
        page = tmp_path / "f" / "page.html"
    else:
        page = a / "page.html"
    before = os.lstat(page).st_mode if os.path.lexists(page) else None
    assert main(["compare", str(a), str(b), "--html", str(page)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--html" in err  # refused before the comparison was made
    assert (os.lstat(page).st_mode if os.path.lexists(page) else None) == before


@pytest.mark.parametrize("kind", ["inside-an-input", "holds-an-input", "under-a-file", "dangling-link"])
def test_merge_output_is_refused_before_any_work(tmp_path: Path, kind: str) -> None:
    a = _copy(tmp_path, "kernel-6.1-a")
    if kind == "inside-an-input":
        out = a / "fleet"
    elif kind == "holds-an-input":
        out = tmp_path
    elif kind == "under-a-file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "fleet"
    else:
        out = tmp_path / "fleet"
        out.symlink_to(tmp_path / "gone")
    with pytest.raises(MergeError) as e:
        merge([str(a)], out)
    assert any(p.startswith("-o ") for p in e.value.problems), e.value.problems
    assert not (tmp_path / "gone").exists() and not (a / "fleet").exists()


# --- 4. one identity per rack and per host in a sign-off -----------------------------------------------------


def test_one_run_directory_is_one_rack_however_it_is_named(tmp_path: Path) -> None:
    """Before: `rack1=DIR rack2=DIR/.` signed one rack off twice."""
    a = _copy(tmp_path, "kernel-6.1-a")
    with pytest.raises(MergeError, match="one run directory is one rack, given once"):
        merge([f"rack1={a}", f"rack2={a}/."], tmp_path / "fleet", prefix=True)


@pytest.mark.parametrize(
    ("specs", "expect", "needle"),
    [
        (["rack1={a}", "RACK1={b}"], [], "are both rack 'rack1'"),
        (["\u212aa={a}"], [], "is not a host-name label"),  # KELVIN SIGN is not k
        (["run={a}"], [], "'run' names the sign-off's own cases"),
        (["={a}"], [], "an empty rack name"),
        (["{a}"], ["rack1", "bad name"], "--expect 'bad name' is not a host-name label"),
        (["{a}"], ["r1", "R1"], "--expect R1: given twice"),
        (["{long}={a}"], [], "is not a host-name label"),
        (["{a}/" + "x" * 300], [], "a path too long"),
    ],
)
def test_names_in_a_sign_off_are_ascii_labels_counted_once(
    tmp_path: Path, specs: list[str], expect: list[str], needle: str
) -> None:
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-6.1-b")
    args = [s.format(a=a, b=b, long="r" * 300) for s in specs]
    with pytest.raises(MergeError) as e:
        merge(args, tmp_path / "fleet", expect=expect, prefix=True)
    assert any(needle in p for p in e.value.problems), e.value.problems
    assert not (tmp_path / "fleet").exists()


def test_a_host_is_one_blade_whatever_its_case_and_once_per_rack(tmp_path: Path) -> None:
    """Before: BLADE1 in one rack and blade1 in another were two blades; a blade twice in one results.json was
    counted twice."""
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-6.1-b")

    _edit(b, _renamed("BLADE1"))
    with pytest.raises(MergeError, match="blade blade1 is in rack rack1 and in rack rack2"):
        merge([f"rack1={a}", f"rack2={b}"], tmp_path / "fleet")
    _edit(a, lambda doc: doc["blades"].append(doc["blades"][0]))
    with pytest.raises(MergeError, match=r"rack rack1: blade blade1 is in its results\.json twice"):
        merge([f"rack1={a}"], tmp_path / "fleet")


def test_run_is_no_blades_name(tmp_path: Path) -> None:
    """`run` is the reports' run-level pseudo-blade: an inventory, the virtual lab and the simulated rack refuse
    it as a blade's name."""
    from swaplab.lab.machines import names_problem

    assert "'run' names the run as a whole" in _problems(GOOD, "run")
    assert "'run' names the run as a whole" in _problems(GOOD, "RUN")
    assert names_problem(["run"], 1)
    assert any("reserved" in p for p in sim.problems(["run"]))


# --- 5. every string from a file reaches a terminal visible, on one line -------------------------------------


def test_compare_prints_a_forged_release_as_one_visible_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a kernel release with a newline printed a line of swaplab's own, and its escapes cleared the
    screen."""
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-5.10")
    _edit(b, lambda doc: doc["kernel"].update(release=FORGED))
    main(["compare", str(a), str(b)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    first = out.splitlines()[0]
    assert first.startswith("baseline 6.1.0-57-amd64 -> candidate 6.1.0\\x0ano significant regression")
    assert not any(line.startswith("no significant regression") for line in out.splitlines())


def test_merge_refusals_and_resume_notices_print_file_strings_visibly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _copy(tmp_path, "kernel-6.1-a", "a"), _copy(tmp_path, "kernel-6.1-b", "b")
    _edit(b, lambda doc: doc["options"].update(fio_size_mib=FORGED))
    _edit(b, lambda doc: doc["kernel"].update(release=FORGED, sha256="1" * 64))
    assert main(["merge", f"ra={a}", f"rb={b}", "-o", str(tmp_path / "fleet"), "--prefix-racks"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert not any(line.startswith("no significant") for line in err.splitlines())
    d = _journal(tmp_path / "run", {**RunOptions().to_json(), "fio_runtime_s": 5}, release=FORGED)
    journal.Journal(d).write("run", kernel={"release": FORGED, "sha256": "0" * 64, "file": "", "kind": ""},
                             options={**RunOptions().to_json(), "limit": FORGED}, blades=["blade1"])  # fmt: skip
    resume_options(RunOptions(resume=str(d), limit="x"))
    err = capsys.readouterr().err
    assert "ignored: --limit x" in err and "\x1b" not in err and len(err.splitlines()) == 1


# --- 6. exit codes that mean what they say; strict numbers ----------------------------------------------------


def test_report_that_cannot_write_junit_xml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `report` exited 0 and said it had rewritten junit.xml."""
    a = _copy(tmp_path, "kernel-6.1-a")
    (a / "junit.xml").unlink(missing_ok=True)
    (a / "junit.xml").mkdir()
    (a / "junit.xml" / "keep").write_text("x")
    assert main(["report", str(a)]) == 2
    assert "could not write junit.xml" in capsys.readouterr().err


def test_compare_of_runs_that_measured_nothing_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: no blade in common was exit 0 ("no significant regression"); no hog trials was exit 1, the
    kernel's code, for an input that measured nothing."""
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-6.1-b")

    _edit(b, _renamed("blade9"))
    assert main(["compare", str(a), str(b)]) == 2
    assert "no blade in common" in capsys.readouterr().out

    def no_hog(doc: dict[str, Any]) -> None:
        for c in doc["blades"][0]["cases"]:
            c["records"] = [r for r in c["records"] if r["type"] not in ("hog", "ratio")]

    c = _copy(tmp_path, "kernel-6.1-b", "c")
    _edit(c, no_hog)
    assert main(["compare", str(a), str(c)]) == 2
    out, err = capsys.readouterr()
    assert "no hog trials to compare" in out and "nothing was measured" in err


@pytest.mark.parametrize("text", ["1e999", "-1e999", "[1, 1e400]", '{"a": ' + "9" * 400 + "}", "123456789012345678901"])
def test_numbers_that_are_not_numbers_are_refused(text: str) -> None:
    """Before: 1e999 was read as infinity (compare crashed on it); a 400-digit integer was taken as given."""
    with pytest.raises(ValueError):
        json_strict(text)


def test_a_time_of_1e999_in_results_json_is_one_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _copy(tmp_path, "kernel-6.1-a"), _copy(tmp_path, "kernel-6.1-b")
    text = (b / "results.json").read_text()
    (b / "results.json").write_text(text.replace('"seconds": ', '"seconds": 1e999, "x": ', 1))
    assert main(["compare", str(a), str(b)]) == 2
    assert "too large to be finite" in capsys.readouterr().err


@pytest.mark.parametrize("memory", [-192, 0, 10**18, True])
def test_a_configured_memory_no_blade_has_is_not_recorded(tmp_path: Path, memory: object) -> None:
    from swaplab.report.compare import configured_memory

    r = RunResult.load(_copy(tmp_path, "kernel-6.1-a") / "results.json")
    r.options["blade_memory_mib"] = {"blade1": memory}
    assert configured_memory(r, "blade1")[0] is None


# --- 7. bounds before work -------------------------------------------------------------------------------------


def test_merge_checks_its_rack_count_before_reading_anything(tmp_path: Path) -> None:
    """Before: 10,000 NAME=DIR arguments ran past two minutes."""
    t0 = time.monotonic()
    with pytest.raises(MergeError, match="a sign-off merges at most 256"):
        merge([f"r{i}={tmp_path}/r{i}" for i in range(10_000)], tmp_path / "fleet")
    assert time.monotonic() - t0 < 1


def test_merge_argument_problems_are_found_before_any_results_json_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _copy(tmp_path, "kernel-6.1-a")
    read: list[Path] = []
    real = RunResult.load
    monkeypatch.setattr(RunResult, "load", classmethod(lambda cls, p: read.append(p) or real(p)))
    with pytest.raises(MergeError):
        merge([f"x={a}", f"y={a}", "=nothing"], tmp_path / "fleet", expect=["ok", "not ok"])
    assert read == []
