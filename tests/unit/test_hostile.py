"""Hostile input and hostile blades: each test fails on the code before the fix.

Real programs where they matter: the NAS-side scripts run under dash against a planted link, ssh
resolves its own configuration, ansible-playbook runs under the guard and is killed with its parent.
"""

from __future__ import annotations

import configparser
import dataclasses
import gzip
import io
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from swaplab import hostkeys, proctree
from swaplab.cli import main
from swaplab.kernel.sources import KernelUnreadable, load_kernel
from swaplab.options import RunOptions, WorkingSet
from swaplab.provision import ProvisionError, playbook_path
from swaplab.run import validate

ROOT = Path(__file__).resolve().parents[2]
INROOT = ROOT / "roles" / "nfsroot" / "files" / "inroot.sh"
CONFIG = ROOT / "tests" / "unit" / "data" / "config-6.1.0-56-amd64"


# --- a blade is not trusted by the NAS ----------------------------------------------------------


def _root(tmp_path: Path) -> tuple[Path, Path]:
    """A blade root with planted links, and a file 'on the NAS' outside it."""
    outside = tmp_path / "nas-secret"
    outside.write_text("NAS ONLY\n")
    r = tmp_path / "nfsroot" / "blade1"
    for d in ("etc/ssh/sshd_config.d", "etc/sysctl.d", "usr/lib/modules", "boot", "var/lib/dpkg"):
        (r / d).mkdir(parents=True)
    (r / "etc" / "os-release").write_text("ID=debian\n")
    (r / "etc" / "hostname").symlink_to(outside)  # absolute: the NAS's file, if followed
    (r / "etc" / "machine-id").symlink_to("../../../../nas-secret")  # .. out of the root
    (r / "lib").symlink_to("/usr/lib")  # the usual merged /usr, written absolute
    return r, outside


def _inroot(root: Path, path: str) -> str:
    script = f". {shlex.quote(str(INROOT))}; inroot {shlex.quote(str(root))} {shlex.quote(path)}"
    return subprocess.run(["dash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def test_paths_in_a_root_resolve_inside_it(tmp_path: Path) -> None:
    r, outside = _root(tmp_path)
    assert _inroot(r, "etc/hostname") == f"{r}{outside}"  # the link's target, taken inside the root
    assert _inroot(r, "etc/machine-id") == f"{r}/nas-secret"  # .. stops at the root
    assert _inroot(r, "lib/modules/6.1") == f"{r}/usr/lib/modules/6.1"
    (r / "loop").symlink_to("loop")
    assert subprocess.run(["dash", "-c", f". {INROOT}; inroot {r} loop/x"], capture_output=True).returncode == 4


def test_nfsroot_writes_never_follow_a_planted_link_out_of_the_root(tmp_path: Path) -> None:
    r, outside = _root(tmp_path)
    (r / str(outside.parent).lstrip("/")).mkdir(parents=True)  # where the link leads, inside the root
    image = tmp_path / "blade-root.tar"
    image.write_bytes(b"")
    env = dict(os.environ, INROOT_SH=INROOT.read_text(), SYSCTL_CONF="kernel.sysrq = 1")
    res = subprocess.run(["dash", str(ROOT / "roles/nfsroot/files/nfsroot.sh"), str(image), str(r.parent), "blade1"],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert outside.read_text() == "NAS ONLY\n"  # before the fix: "blade1"
    assert (Path(f"{r}{outside}")).read_text() == "blade1\n"
    assert "hostkey: blade1 ssh-ed25519 " in res.stdout


def test_the_tftp_copy_never_serves_a_nas_file(tmp_path: Path) -> None:
    r, outside = _root(tmp_path)
    (r / "boot" / "vmlinuz-6.1").symlink_to(outside)
    (r / "boot" / "initrd.img-6.1").write_text("initrd")
    tftp = tmp_path / "tftp"
    env = dict(os.environ, INROOT_SH=INROOT.read_text())
    res = subprocess.run(["dash", str(ROOT / "roles/kernel/files/kernel_tftp.sh"), str(r), "6.1", str(tftp)],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert res.returncode == 3 and "is missing" in res.stderr  # the link's target inside the root: none
    assert not (tftp / "kernels" / "6.1" / "vmlinuz").exists()
    # An unmanaged NAS: checked, never written.
    (r / "boot" / "vmlinuz-6.1").unlink()
    (r / "boot" / "vmlinuz-6.1").write_text("image")
    unmanaged = tmp_path / "tftp-unmanaged"
    res = subprocess.run(["dash", str(ROOT / "roles/kernel/files/kernel_tftp.sh"), str(r), "6.1", str(unmanaged),
                          "check"], capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert res.returncode == 3 and "missing on the NAS" in res.stderr and not unmanaged.exists()


# --- host keys ----------------------------------------------------------------------------------


def test_ansible_puts_strict_host_key_checking_first() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    words = shlex.split(cfg["ssh_connection"]["ssh_args"])
    assert words[: 2 * len(hostkeys.STRICT)] == [w for o in hostkeys.STRICT for w in ("-o", o)]
    assert cfg["defaults"].getboolean("host_key_checking")


def test_a_host_without_a_recorded_key_is_named_with_the_fix(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIOr1Ezp6EiEqAp3cZb0kXNp8w0q0m8a0yB1Xp2gY3T6Z"
    known.write_text(f"[127.0.0.1]:2222 ssh-ed25519 {key}\n")
    args = f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=no -o ProxyCommand='ssh -W %h:%p x'"
    ok = hostkeys.target("nas", {"ansible_host": "127.0.0.1", "ansible_port": 2222, "ansible_ssh_common_args": args})
    assert hostkeys.problems([ok]) == []
    other = hostkeys.target("nas", {"ansible_host": "127.0.0.1", "ansible_port": 2223, "ansible_ssh_common_args": args})
    (problem,) = hostkeys.problems([other])
    assert problem.startswith(f"nas: no host key for [127.0.0.1]:2223 in {known}")
    assert f"ssh-keyscan -p 2223 127.0.0.1 >> {known}" in problem


# --- children die with the controller ---------------------------------------------------------------


def test_the_guarded_command_dies_with_its_parent(tmp_path: Path) -> None:
    """kill -9 of the controller: the guard stops what runs below it (before: it ran on, orphaned)."""
    pidfile = tmp_path / "grandchild.pid"
    inner = f"sleep 300 & echo $! > {pidfile}; wait"
    script = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-m', 'swaplab.guard', 'sh', "
              f"'-c', {inner!r}]); time.sleep(300)")  # fmt: skip
    controller = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = int(pidfile.read_text())
    proc = (pid, proctree._stat(pid)[1])  # type: ignore[index]
    time.sleep(1.0)  # the guard's poll has seen it
    controller.send_signal(signal.SIGKILL)
    controller.wait()
    deadline = time.monotonic() + 15
    while proctree.alive(proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = proctree.alive(proc)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the guarded command outlived its controller"


# --- options have ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "needle"),
    [
        (RunOptions(ratio_gate=float("nan")), "--ratio-gate nan: choose 1 to 100"),
        (RunOptions(ratio_gate=float("inf")), "--ratio-gate inf: choose 1 to 100"),
        (RunOptions(suites=[]), "--suite is empty"),
        (RunOptions(blades=0), "--blades 0: choose 1 to 8"),
        (RunOptions(blades=100), "--blades 100: choose 1 to 8"),
        (RunOptions(trials=10**6), "--trials 1000000: choose 1 to 50"),
        (RunOptions(fio_runtime_s=10**6), "--fio-runtime 1000000: choose 1 to 600"),
        (RunOptions(hang_budget_s=5), "--hang-budget 5: choose 30 to 3600"),
        (RunOptions(load_budget_s=5), "--load-budget 5: choose 30 to 86400"),
        (RunOptions(load_budget_s_per_mib=float("inf")), "--load-budget-per-mib inf: choose 0.1 to 60"),
        (RunOptions(max_recoveries=0), "--max-recoveries 0: choose 1 to 1000"),
        (RunOptions(max_hangs=0), "--max-hangs 0: choose 1 to 20"),
        (RunOptions(precision_pct=-5), "--precision -5: choose 0 to 100"),
        (RunOptions(precision_pct=float("nan")), "--precision nan: choose 0 to 100"),
        (RunOptions(max_trials=0), "--max-trials 0: choose 1 to 50"),
        (RunOptions(trials_budget_s=1), "--trials-budget 1: choose 60 to 86400"),
        (RunOptions(run_budget_s=-1), "--run-budget -1: choose 0 to 604800"),
        (RunOptions(trials=5, max_trials=4), "--max-trials 4 is below --trials 5"),
        (RunOptions(fault="meteor@hog-t1-nfs+1"), "--fault 'meteor@hog-t1-nfs+1': give SCENARIO"),
        (RunOptions(fault="nas-freeze:99999@hog-t1-nfs+1"), "nas-freeze:99999: choose 1 to 3600 seconds"),
        (
            RunOptions(fault="blade-crash@hog-t1-nfs+5", inventory="inventories/lab.example/hosts.yml"),
            "--fault is for the virtual lab",
        ),
        (RunOptions(dhcp="lab", inventory="inventories/lab.example/hosts.yml"), "--dhcp is for the virtual lab"),
        (RunOptions(nas="nfs-box"), "--nas nfs-box: choose one of host, vm"),
        (RunOptions(bmc="ilo"), "--bmc ilo: choose one of qmp, ipmi, redfish"),
    ],
)
def test_run_options_have_ranges(opts: RunOptions, needle: str) -> None:
    # A config file as the kernel: quick to judge (it cannot boot a blade, which is one more problem).
    problems = validate(dataclasses.replace(opts, kernel=str(CONFIG)), lambda _m: None).problems
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "needle"),
    [("0.5x", "'0.5x': give a multiple of RAM from 1.1x to 8x"), ("2", "'2'"), ("nanx", "'nanx'"),
     ("infx", "'infx'"), ("1e9x", "'1e9x'")],
)  # fmt: skip
def test_a_working_set_out_of_range_is_exit_2_naming_the_forms(
    text: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["run", "--working-set", text])
    assert e.value.code == 2 and f"argument --working-set: {needle}" in capsys.readouterr().err


def test_working_set_forms() -> None:
    assert WorkingSet.parse("2x") == WorkingSet("times_ram", 2.0) and str(WorkingSet.parse("2x")) == "2x"
    assert WorkingSet.parse("400M") == WorkingSet("mib", 400) == WorkingSet.parse("400MiB")
    assert WorkingSet.parse("400M").hog_argument() == "--mib 400" and WorkingSet.parse("1.5x").mib(2048) == 3.0


def test_an_unknown_playbook_is_named() -> None:
    with pytest.raises(ProvisionError, match=r"--playbook 'nope.yml': no such playbook; choose one of .*site.yml"):
        playbook_path("nope.yml")
    assert main(["provision", "--playbook", "../../etc/passwd"]) == 2


def test_provision_reports_the_inventory_and_the_kernel_at_once(tmp_path: Path) -> None:
    """One message naming every problem (inventory and kernel), before any playbook or connection."""
    from swaplab.provision import provision

    hosts = tmp_path / "hosts.yml"
    hosts.write_text("all:\n  children:\n    blades:\n      hosts:\n        b1:\n          ansible_host: 10.0.0.11\n")
    said: list[str] = []
    with pytest.raises(ProvisionError) as e:
        provision(str(hosts), str(tmp_path / "missing.deb"), said.append)
    text = str(e.value)
    assert text.startswith("cannot provision (nothing was touched)")
    assert "no `nas` group" in text and "b1: no swaplab_mac" in text  # the inventory's problems
    assert "missing.deb" in text  # and the kernel's, in the same message
    assert not any("preflight" in m or "provision ok" in m for m in said)


# --- bounded parsers ---------------------------------------------------------------------------


def _deb(tmp_path: Path, members: dict[str, bytes]) -> Path:
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in members.items():
        out.write(f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode())
        out.write(data + (b"\n" if len(data) % 2 else b""))
    path = tmp_path / "k.deb"
    path.write_bytes(out.getvalue())
    return path


def _tar(files: dict[str, int], sparse: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, size in files.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"\0" * size))
    return buf.getvalue()


def test_a_deb_whose_config_inflates_beyond_reason_is_unreadable(tmp_path: Path) -> None:
    control = _tar({"./control": 0})
    data = _tar({"./boot/config-6.1.0-x": 9 << 20})  # 9 MiB of zeros: ~9 KB compressed
    deb = _deb(tmp_path, {"debian-binary": b"2.0\n", "control.tar.gz": control, "data.tar.gz": data})
    assert deb.stat().st_size < 100_000
    with pytest.raises(KernelUnreadable, match="more than 8 MiB"):
        load_kernel(str(deb))
    assert main(["check-kernel", str(deb)]) == 2


def test_a_gzip_config_bomb_is_unreadable(tmp_path: Path) -> None:
    bomb = tmp_path / "config.gz"
    with gzip.open(bomb, "wb") as f:
        for _ in range(64):
            f.write(b"\0" * (1 << 20))
    with pytest.raises(KernelUnreadable, match="inflates to more than"):
        load_kernel(str(bomb))


def test_a_zstd_frame_bomb_is_bounded(tmp_path: Path) -> None:
    import zstandard

    payload = zstandard.ZstdCompressor(level=3).compress(b"\0" * (300 << 20))
    path = tmp_path / "bzImage"
    path.write_bytes(b"\0" * 1024 + payload)
    assert path.stat().st_size < 200_000
    with pytest.raises(KernelUnreadable):
        load_kernel(str(path))
    assert main(["check-kernel", str(path)]) == 2


@pytest.mark.parametrize("kind", ["dev-zero", "directory", "loop", "fifo"])
def test_a_tree_config_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    boot = tmp_path / "tree" / "boot"
    boot.mkdir(parents=True)
    cfg = boot / "config-6.1.0-x"
    if kind == "dev-zero":
        cfg.symlink_to("/dev/zero")
    elif kind == "directory":
        cfg.mkdir()
    elif kind == "loop":
        cfg.symlink_to(cfg.name)
    else:
        os.mkfifo(cfg)
    t0 = time.monotonic()
    with pytest.raises(KernelUnreadable):
        load_kernel(str(tmp_path / "tree"))
    assert time.monotonic() - t0 < 5


def test_a_fifo_as_the_kernel_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "kernel.deb"
    os.mkfifo(fifo)
    assert main(["check-kernel", str(fifo)]) == 2


def test_a_real_config_still_loads() -> None:
    info = load_kernel(str(CONFIG))
    assert info.kind == "config" and "CONFIG_NFS_SWAP=y" in info.config_text


# --- secrets: resolved before acting, never in an event ---------------------------------------------


def _power_inventory(tmp_path: Path, password: str) -> Path:
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n  children:\n    nas:\n      hosts:\n"
        "        nas: {ansible_host: 127.0.0.1, swaplab_lab_address: 10.0.0.1}\n"
        "    blades:\n      hosts:\n        b1:\n          ansible_host: 10.0.0.11\n"
        "          swaplab_power:\n            driver: redfish\n            url: https://127.0.0.1:9\n"
        f'            user: admin\n            password: "{password}"\n'
    )
    return inv


def test_power_credentials_are_resolved_before_acting_and_kept_out_of_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swaplab.provision import run_playbook

    secret = "s3cr3t-Pw-4711"  # noqa: S105 - the password the test looks for
    monkeypatch.setenv("SWAPLAB_TEST_BMC_PASSWORD", secret)
    monkeypatch.setenv("SWAPLAB_TEST_EMPTY", "")
    cases = {
        "{{ vault_bmc_password }}": "'vault_bmc_password' is undefined",
        "{{ lookup('ansible.builtin.env', 'SWAPLAB_TEST_EMPTY') }}": "lacks password",
        # Resolved, so the driver goes on to the BMC (nothing listens on 127.0.0.1:9).
        "{{ lookup('ansible.builtin.env', 'SWAPLAB_TEST_BMC_PASSWORD') }}": "does not answer",
    }
    for i, (password, needle) in enumerate(cases.items()):
        art = tmp_path / f"artifacts{i}"
        res = run_playbook("preflight.yml", str(_power_inventory(tmp_path, password)), {}, lambda _m: None,
                           artifacts=art)  # fmt: skip
        assert not res.ok and any(needle in f for f in res.failures), res.failures
        leaked = [p for p in art.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert leaked == [], f"the BMC password is in {leaked}"
        assert any(art.rglob("*.json")), "no runner events were kept to check"


def test_the_lab_is_private_to_root(tmp_path: Path) -> None:
    from swaplab.lab.paths import LabPaths

    paths = LabPaths(tmp_path / "lab")
    paths.images.mkdir(parents=True)
    (paths.images / "nas.img").write_bytes(b"disk with the NAS's private host key")
    (paths.images / "nas.img").chmod(0o644)
    paths.secure()
    assert (paths.images / "nas.img").stat().st_mode & 0o777 == 0o600
    for d in (paths.base, paths.images, paths.run):
        assert d.stat().st_mode & 0o777 == 0o700


# --- scan-log: bounded buffers, no input's findings dropped ----------------------------------------


def test_input_without_newlines_is_split_not_buffered(monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplab.detect import scan

    monkeypatch.setattr(scan, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(scan, "MAX_LINE_BYTES", 1024)
    data = b"x" * 200_000 + b"\n[  12.3] Kernel panic - not syncing: Out of memory and no killable processes...\n"
    longest = max(len(c) for c in scan._chunks(io.BytesIO(data[4096:]), data[:4096]))
    assert longest <= 4096 + 1024 + 1
    res = scan.scan_stream(io.BytesIO(data), "-", "dmesg")
    assert [f.kind for f in res.findings] == ["panic"]


def test_one_unreadable_input_keeps_the_others_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = ROOT / "tests" / "unit" / "logs" / "qemu-6.1-faults.kmsg.log"
    assert main(["scan-log", str(tmp_path / "missing.log"), str(log)]) == 2
    out, err = capsys.readouterr()
    assert "oom_kill" in out and "cannot read" in err and str(tmp_path / "missing.log") in err


def test_a_truncated_result_archive_keeps_what_was_read() -> None:
    from swaplab.fleet.loads import unpack_results

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("./state", b"done\n"), ("./dmesg.txt", b"[ 1.0] x\n" * 5000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    whole = buf.getvalue()
    files, problem = unpack_results(whole, 0)
    assert problem == "" and set(files) == {"state", "dmesg.txt"}
    files, problem = unpack_results(whole[:20_000], 0)  # cut inside dmesg.txt
    assert files == {"state": b"done\n"}
    assert problem.startswith("the result archive is cut short (20000 bytes;") and problem.endswith("kept state")


def test_a_kernel_release_that_would_reach_the_ipxe_script_is_refused(tmp_path: Path) -> None:
    from swaplab.kernel.under_test import KernelError, resolve

    rel = "6.1.0-x; chain evil.ipxe"  # a tree whose release would be pasted into boot.ipxe
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / f"config-{rel}").write_text(CONFIG.read_text())
    (tmp_path / "boot" / f"vmlinuz-{rel}").write_bytes(b"image")
    (tmp_path / "lib" / "modules" / rel).mkdir(parents=True)
    with pytest.raises(KernelError, match="is not a plain release name"):
        resolve(str(tmp_path), print)


def test_resume_of_a_directory_that_holds_no_run_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
