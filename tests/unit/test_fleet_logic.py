"""Pure logic of the fleet side: job scripts, ssh config, the judge on real logs, fio output, run options."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swaplab.detect import scan_path
from swaplab.fleet import fio
from swaplab.fleet.judge import in_window, judge
from swaplab.fleet.loads import LoadOutcome, SwapArea, job_script, progress_line, wait_command
from swaplab.fleet.remote import ssh_config
from swaplab.inventory import Inventory
from swaplab.options import RunOptions, WorkingSet
from swaplab.report.collect import _name
from swaplab.run import select_blades, validate

LOGS = Path(__file__).parent / "logs"
DATA = Path(__file__).parent / "data"
NFS = SwapArea("/mnt/nfs swap/swap'file", 10, "nfs")  # a hostile path: every use must be quoted
NBD = SwapArea("/dev/nbd0", 5, "nbd")


def test_job_script_is_valid_sh_and_quotes_every_value() -> None:
    text = job_script("/var/lib/swaplab/loads/x y", 600, "python3 hog.py --mib 10; echo 'done'", [NBD], [NFS, NBD], [])
    assert subprocess.run(["sh", "-n"], input=text, text=True, check=False).returncode == 0
    assert f"swapoff {shlex.quote(NFS.path)}" in text  # the store not under test leaves swap
    assert f"swapon -p 5 {shlex.quote(NBD.path)}" in text
    assert "timeout -s KILL 600 sh -c " + shlex.quote("python3 hog.py --mib 10; echo 'done'") in text
    assert "cd '/var/lib/swaplab/loads/x y'" in text
    # The sampler (the heartbeat) pinned in RAM unless run --no-pin; its stderr kept (it says if it could not be).
    assert "sampler.py --out samples.csv --heartbeat 5 < /dev/null > /dev/null 2> sampler.err &" in text
    unpinned = job_script("/d", 60, "true", [NBD], [NFS, NBD], [], pin=False)
    assert "sampler.py --out samples.csv --heartbeat 5 --no-pin < /dev/null" in unpinned
    lines = text.splitlines()
    # Each load starts from a dropped page cache, after its swap area is chosen and before the counters.
    drop = lines.index("sync; echo 3 > /proc/sys/vm/drop_caches")
    assert lines.index(f"active {shlex.quote(NBD.path)} || swapon -p 5 {shlex.quote(NBD.path)} >> swap.log 2>&1") < drop
    assert drop < lines.index("cat /proc/vmstat > vmstat.before")
    # The preparation is stamped apart from the load, so that its cost shows in the results.
    assert lines.index("cat /proc/vmstat > vmstat.before") < lines.index("awk '{print $1}' /proc/uptime > t_ready")
    assert lines.index("awk '{print $1}' /proc/uptime > t_ready") < next(
        i for i, line in enumerate(lines) if line.startswith("timeout -s KILL")
    )


def test_load_phases_from_the_blade_stamps(tmp_path: Path) -> None:
    files = {"t_start": b"723.01\n", "t_ready": b"741.50\n", "t_end": b"919.74\n"}
    assert LoadOutcome("x", "done", 0, 200.0, tmp_path, files).phases() == {"prep_s": 18.5, "load_s": 178.2}
    # A load cut short (no end stamp) has no phases rather than wrong ones.
    assert LoadOutcome("x", "timeout", None, 200.0, tmp_path, {"t_start": b"1\n"}).phases() == {}


def test_job_script_restores_swap_and_signals_done_last() -> None:
    text = job_script("/d", 60, "fio", [NFS], [NFS, NBD], ["/dev/nbd0"])
    lines = text.strip().splitlines()
    assert lines[-1] == "echo done > state.tmp && mv state.tmp state"  # written last, atomically
    mkswap = lines.index("mkswap /dev/nbd0 >> swap.log 2>&1")
    restore = [i for i, line in enumerate(lines) if line.startswith("active /dev/nbd0 || swapon -p 5")]
    assert restore and restore[-1] > mkswap  # the overwritten device gets its signature before it returns
    assert lines.index("dmesg > dmesg.txt 2>&1") < len(lines) - 1
    # Helpers the load detached into sessions of their own are killed when the load ends.
    kill = lines.index("[ -s detached.pids ] && kill -KILL $(cat detached.pids) 2>/dev/null")
    assert lines.index("echo $? > rc") < kill < lines.index("echo done > state.tmp && mv state.tmp state")


def test_ssh_config_from_the_virtual_inventory_shape() -> None:
    common = ("-o UserKnownHostsFile=/r/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
              "-o ProxyCommand=\"ssh -i /k -p 12222 -W %h:%p root@127.0.0.1\"")  # fmt: skip
    hv = {"blade1": {"ansible_host": "10.0.0.11", "ansible_user": "root", "ansible_ssh_private_key_file": "/k",
                     "ansible_ssh_common_args": common}}  # fmt: skip
    text = ssh_config(hv, ["blade1"])
    assert "Host blade1\n  HostName 10.0.0.11\n  User root\n  IdentityFile /k\n" in text
    assert "  StrictHostKeyChecking yes\n" in text  # host keys are checked
    assert "  ProxyCommand ssh -i /k -p 12222 -W %h:%p root@127.0.0.1\n" in text


def test_judge_fails_an_oom_kill_of_anything_but_the_hog() -> None:
    findings = scan_path(str(LOGS / "qemu-6.1-faults.dmesg.log")).findings
    oom = [f for f in findings if f.kind == "oom_kill"]
    assert oom and oom[0].fields["pid"] == 83
    v = judge(oom)
    assert len(v.failures) == 1 and "OOM kill of hog (pid 83), not the hog" in v.failures[0]
    assert judge(oom, {83}).failures and judge(oom, {83}).hog_oom_killed  # the hog's kill fails unless expected
    assert not judge(oom, {83}, hog_oom_expected=True).failures


def test_judge_on_the_real_fault_log() -> None:
    findings = scan_path(str(LOGS / "qemu-6.1-faults.console.log")).findings  # the console saw the panic too
    v = judge(findings, {83}, hog_oom_expected=True)
    kinds = {f.split(" ")[0] for f in v.failures}
    assert {"hung_task", "soft_lockup", "oops", "kernel_bug", "warning", "panic"} <= kinds
    assert any(w.startswith("page_alloc_failure") for w in v.warnings)  # a warning, not a failure


def test_judge_reports_a_real_nfs_outage_as_a_warning_with_its_duration() -> None:
    # Captured: the virtual lab's NAS paused 200 s (QMP stop) under the hog on NFS swap; the hog's pages came back.
    findings = scan_path(str(LOGS / "lab-6.1-blade-nas-paused-200s.console.log")).findings
    v = judge(findings)
    assert v.failures == []
    assert v.nfs_outage_s == pytest.approx(20.472)
    outage = [w for w in v.warnings if w.startswith("NFS server 10.0.0.1: 'not responding' for 20.472 s")]
    assert len(outage) == 1 and "stalled longer" in outage[0]
    assert any(w.startswith("nfs_not_responding") for w in v.warnings)


def test_findings_outside_a_load_window_are_left_to_the_health_suite() -> None:
    findings = scan_path(str(LOGS / "qemu-6.1-faults.dmesg.log")).findings
    stamps = sorted(f.fields["timestamp"] for f in findings)
    inside = in_window(findings, stamps[0], stamps[0])
    assert 0 < len(inside) < len(findings)


def test_fio_command_and_parse() -> None:
    cmd = fio.command("/mnt/nfsswap/fio.dat", 64, 10, "fio.json")
    argv = shlex.split(cmd)
    assert argv[:2] == ["fio", "--output-format=json"] and "--direct=1" in argv
    assert [a for a in argv if a.startswith("--name=")] == [f"--name={j[0]}" for j in fio.JOBS]
    assert "--time_based" in shlex.split(fio.command("/dev/nbd0", 64, 10, "f.json", loop=True))
    layout = shlex.split(fio.layout_command("/mnt/nfs swap/fio.dat", 32).removesuffix(" > /dev/null"))
    assert layout[0] == "fio" and "--create_only=1" in layout and "--filename=/mnt/nfs swap/fio.dat" in layout
    assert "--size=32M" in layout
    assert "--thread" in shlex.split(cmd)  # jobs as threads: no forked job for fio to kill(0) when it is slow
    res = fio.parse((DATA / "fio-nfs.json").read_text())
    assert set(res) == {j[0] for j in fio.JOBS}
    for job in res.values():
        assert job["bw_mib_s"] > 0 and job["iops"] > 0 and job["p99_ms"] > 0
    assert res["seq-write-64k"]["rw"] == "write" and res["rand-read-4k"]["rw"] == "read"
    with pytest.raises(ValueError):
        fio.parse("fio: file not found")
    with pytest.raises(ValueError):
        fio.parse(json.dumps({"jobs": []}))


def test_working_set_option() -> None:
    assert WorkingSet.parse("2x") == WorkingSet("times_ram", 2.0)
    assert WorkingSet.parse("400M") == WorkingSet("mib", 400)
    for bad in ("x", "-1x", "0M", "lots"):
        with pytest.raises(ValueError):
            WorkingSet.parse(bad)


def test_the_cli_takes_its_defaults_from_the_options_type() -> None:
    from swaplab.cli import build_parser
    from swaplab.options import from_arguments as run_options

    assert run_options(build_parser().parse_args(["run"])) == RunOptions()
    argv = ["run", "--trials", "5", "--working-set", "300M", "--suite", "config,hog", "--no-provision", "--keep",
            "-i", "x.yml"]  # fmt: skip
    opts = run_options(build_parser().parse_args(argv))
    assert (opts.trials, opts.working_set, opts.suites) == (5, WorkingSet("mib", 300), ["config", "hog"])
    assert (opts.provision, opts.keep, opts.inventory) == (False, True, "x.yml")
    assert RunOptions.from_json(opts.to_json()) == opts  # the fleet context's round trip


def test_blade_selection_by_pattern() -> None:
    raw = {"blades": {"hosts": ["blade2", "blade1"], "children": ["rack2"]}, "rack2": {"hosts": ["r2b1"]}}
    inv = Inventory.of("i", raw)
    assert select_blades(inv, None) == ["blade1", "blade2", "r2b1"]
    assert select_blades(inv, "blade*") == ["blade1", "blade2"]
    assert select_blades(inv, "r2*,blade2") == ["blade2", "r2b1"]
    assert select_blades(inv, "nothing*") == []


def test_run_options_are_all_checked_at_once(tmp_path: Path) -> None:
    opts = RunOptions(trials=0, ratio_gate=-1, suites=["verdict", "bogus"],
                      kernel=str(tmp_path / "missing.deb"), limit="nomatch*", blade_memory=128)  # fmt: skip
    problems = validate(opts, lambda _m: None).problems
    text = "\n".join(problems)
    for needle in (
        "--trials 0",
        "--ratio-gate -1",
        "--suite bogus",
        "verdict needs the hog suite",
        "missing.deb: no such file",
        "matches no blade of the virtual lab",
        "--blade-memory 128: choose 160 to 4096 MiB",
    ):
        assert needle in text, (needle, text)  # fmt: skip


def test_case_names_drop_the_blade() -> None:
    assert _name("tests/fleet/test_hog.py::test_hog[blade1-t1-nfs]", "blade1") == "test_hog[t1-nfs]"
    assert _name("tests/fleet/test_fio.py::test_fio[nbd-blade1]", "blade1") == "test_fio[nbd]"
    assert _name("tests/fleet/test_config.py::test_zswap_off[blade1]", "blade1") == "test_zswap_off"
    # xdist's loadgroup suffixes the group (a 2-blade run's JUnit said "test_reachable[blade1]@blade]").
    assert _name("tests/fleet/test_hog.py::test_hog[blade2-t1-nfs]@blade2", "blade2") == "test_hog[t1-nfs]"
    assert _name("tests/fleet/test_config.py::test_zswap_off[blade2]@blade2", "blade2") == "test_zswap_off"
    # Rack-style names (hyphens) wherever the blade stands in the id.
    assert _name("tests/fleet/test_fio.py::test_fio[nbd-r1-b01]@r1-b01", "r1-b01") == "test_fio[nbd]"
    assert _name("tests/fleet/test_hog.py::test_hog[r1-b01-t1-nfs]", "r1-b01") == "test_hog[t1-nfs]"
    assert _name("x.py::test_x[a-r1-b01-b]", "r1-b01") == "test_x[a-b]"


def test_testinfra_ssh_command_keeps_the_control_path(tmp_path: Path) -> None:
    """testinfra %-formats its ssh line: the master's "%C" must survive it, quoted."""
    from swaplab.fleet.remote import Remote

    host = Remote("blade1", tmp_path / "ssh_config", tmp_path / "ctl dir").testinfra(timeout=7)
    backend = host.backend
    cmd, args = backend._build_ssh_command("true")
    line = backend.quote(" ".join(cmd), *args)
    words = shlex.split(line)
    assert f"ControlPath={tmp_path / 'ctl dir' / '%C'}" in words
    assert "ControlMaster=auto" in words and "BatchMode=yes" in words
    assert str(tmp_path / "ssh_config") in words and words[-3:-1] == ["--", "blade1"]
    # Host keys are checked whatever the config says: the strict options come before the config's own.
    assert words.index("StrictHostKeyChecking=yes") < words.index("-F")
    # Every command testinfra runs gets a blade-side limit.
    sent: list[str] = []
    backend.run_ssh = lambda command: sent.append(command)
    backend.run("cat %s", "/etc/host name")
    assert sent == ["timeout -s KILL 7 sh -c " + shlex.quote("cat '/etc/host name'")]


def test_wait_command_returns_as_soon_as_the_state_exists(tmp_path: Path) -> None:
    state = tmp_path / "a dir" / "state"
    state.parent.mkdir()
    t0 = time.monotonic()
    missing = subprocess.run(["sh", "-c", wait_command(str(state), 1)], capture_output=True, text=True, check=True)
    assert missing.stdout == "progress "  # gave up after its wait, without an error (no progress file yet)
    (state.parent / "progress.json").write_text('{"phase": "verify1", "pages_done": 250, "pages": 1000}')
    running = subprocess.run(["sh", "-c", wait_command(str(state), 1)], capture_output=True, text=True, check=True)
    assert progress_line(running.stdout, 61.2, 300) == "verifying the working set, 25% (61 s of 300 s)"
    assert progress_line(missing.stdout, 5, 300) == "running (5 s of 300 s)" and progress_line("done", 5, 9) == ""
    assert time.monotonic() - t0 < 5  # and let go of its output (an ssh channel would stay open otherwise)
    writer = subprocess.Popen(["sh", "-c", f"sleep 0.5; echo done > {shlex.quote(str(state))}"])
    done = subprocess.Popen(["sh", "-c", wait_command(str(state), 10)], stdout=subprocess.PIPE, text=True)
    # It waits without spawning a process per tick: while it waits, it has at most its bash, the
    # one `sleep` behind the pipe, and nothing else.
    time.sleep(0.3)
    children = subprocess.run(["ps", "-o", "comm=", "--ppid", str(done.pid)], capture_output=True, text=True)
    assert set(children.stdout.split()) <= {"bash", "sleep"}
    out, _ = done.communicate(timeout=10)
    writer.wait()
    assert out.strip() == "done"


def test_stopping_a_load_kills_its_job_group_and_its_detached_helpers(tmp_path: Path) -> None:
    """LoadRunner.stop's command, run for real by sh (dash) in a load directory (a stand-in for the blade)."""
    from swaplab.fleet.loads import LoadRunner

    load_dir = tmp_path / "load 1"
    load_dir.mkdir()
    job = subprocess.Popen(["sleep", "60"], start_new_session=True)  # the job: its own process group
    helper = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a helper in a session of its own
    (load_dir / "pid").write_text(f"{job.pid}\n")
    (load_dir / "detached.pids").write_text(f"{helper.pid}\n")
    # The hog, under `timeout` in a process group of its own: killing the job's group does not reach it.
    (load_dir / "hog.py").write_text("import time\ntime.sleep(60)\n")
    hog = subprocess.Popen([sys.executable, "hog.py"], cwd=load_dir, start_new_session=True)
    (load_dir / "hog.pid").write_text(f"{hog.pid}\n")

    class ShellRemote:
        def run(self, command: str, timeout: float = 60, stdin: bytes | None = None) -> None:
            subprocess.run(["sh", "-c", command], timeout=timeout, check=True)

    try:
        LoadRunner(ShellRemote(), tmp_path).stop(str(load_dir))  # type: ignore[arg-type]
        assert job.wait(timeout=5) == -9
        assert helper.wait(timeout=5) == -9
        assert hog.wait(timeout=5) == -9
    finally:
        for p in (job, helper, hog):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_hung_task_inside_a_nas_outage_is_a_warning_and_outside_it_a_failure() -> None:
    # Captured: the virtual lab's NAS paused 240 s under the NFS trial; kcompactd0 blocked from uptime ~3110.5
    # and was reported at 3140.9 (30 s), 3171.6 (61 s) and 3202.3 (92 s).
    findings = scan_path(str(LOGS / "lab-6.1-blade-nas-paused-240s-hung-kcompactd.console.log")).findings
    assert [f.fields["seconds"] for f in findings if f.kind == "hung_task"] == [30, 61, 92]
    assert {f.split(" ")[0] for f in judge(findings).failures} == {"hung_task"}  # no outage known: failures
    inside = judge(findings, outages=[(3100.0, 3340.0)])
    assert inside.failures == [] and len(inside.outage_excused) == 3
    assert sum("while the NAS was not answering (uptime 3100 to 3340 s)" in w for w in inside.warnings) == 3
    # Blocked before the NAS went away: the kernel's.
    assert len(judge(findings, outages=[(3120.0, 3340.0)]).failures) == 3
    # Still blocked past the grace after the NAS answered again (end 3050 + 120 s): the kernel did not recover.
    late = judge(findings, outages=[(3000.0, 3050.0)])
    assert len(late.outage_excused) == 1 and len(late.failures) == 2
    assert all("blocked for more than 30 seconds" not in f for f in late.failures)
    # The health suite reads the same reports again: what a load put down to the outage stays so.
    again = judge(findings, excused=set(inside.outage_excused))
    assert again.failures == [] and len(again.warnings) == len(inside.warnings)


def test_userspace_crashes_are_one_failure_naming_the_processes_and_their_count() -> None:
    """Real lines (the host's 6.18: segfault, general protection fault, invalid opcode, divide error, int3),
    read twice as the console and dmesg carry them: one failure, first where the first crash came."""
    from swaplab.fleet.judge import CRASHES_NAMED

    crashes = scan_path(str(LOGS / "host-6.18-userspace-faults.dmesg.log")).findings
    assert [f.fields["what"] for f in crashes] == ["segfault", "general protection fault", "segfault",
                                                   "general protection fault", "invalid opcode", "divide error",
                                                   "int3"]  # fmt: skip
    hung = scan_path(str(LOGS / "lab-6.1-blade-nas-paused-240s-hung-kcompactd.console.log")).findings
    v = judge([*crashes, *hung, *crashes])
    assert len([p for p in v.failures if p.startswith("userspace_crash")]) == 1
    summary = v.failures[0]  # the crashes came first
    assert (
        summary.startswith("userspace_crash (")
        and "host-6.18-userspace-faults.dmesg.log:1): 7 user process(es) died of faults in their own memory" in summary
    )
    assert "python3[28572] segfault, python3[28613] general protection fault" in summary and "within 42 s" in summary
    assert f"and {7 - CRASHES_NAMED} more" in summary and "memory corruption suspected" in summary
    assert v.failures[1].startswith("hung_task")
    assert judge(hung + crashes).failures[-1] == summary  # after the hangs, when they came first
