"""The IPMI power driver: ipmitool against OpenIPMI's real ipmi_sim, whose chassis drives a (fake) QMP socket.

Only the QEMU end is a fake (tests/unit/fakes.py speaks QMP); the BMC, its RMCP+ session and
password check, and the client are the real programs a rack's path uses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from swaplab.drivers import power_driver
from swaplab.drivers.ipmidriver import IPMIError, IPMIPowerDriver
from swaplab.drivers.protocols import PowerState
from swaplab.lab import bmc as vbmc
from swaplab.lab import procs
from tests.unit.fakes import FakeQMP

PASSWORD = "pw-" + "x7Yq2"

if not (shutil.which("ipmi_sim") and shutil.which("ipmitool")):
    if os.environ.get("CI"):
        pytest.fail("ipmi_sim and ipmitool are not installed in CI: `make lab-deps` installs them")
    pytest.skip("needs ipmi_sim and ipmitool (make lab-deps)", allow_module_level=True)


@pytest.fixture
def bmc(tmp_path: Path) -> Iterator[tuple[FakeQMP, vbmc.VirtualBMC]]:
    qmp = FakeQMP(tmp_path / "blade1.qmp")
    (tmp_path / "blade1.qmp.off").touch()  # a rack's blade starts off
    b = vbmc.start_ipmi(tmp_path, "blade1", str(qmp.path), vbmc.free_tcp_port(), PASSWORD)
    yield qmp, b
    procs.stop(Path(b.pidfile))  # TERM, then KILL; reaped, gone
    qmp.close()


def _driver(b: vbmc.VirtualBMC, password: str = PASSWORD) -> IPMIPowerDriver:
    return IPMIPowerDriver("127.0.0.1", vbmc.BMC_USER, password, port=b.port, cipher_suite=3, timeout_s=1, retries=1)


def test_power_through_the_bmc_with_a_one_time_pxe_override(bmc: tuple[FakeQMP, vbmc.VirtualBMC]) -> None:
    qmp, b = bmc
    drv = _driver(b)
    assert drv.status() is PowerState.OFF
    drv.cycle()  # off: the override, then on
    assert drv.status() is PowerState.ON and qmp.running
    chassis = (Path(b.state_dir) / "chassis.log").read_text().splitlines()
    ops = [" ".join(line.split()[1:]) for line in chassis]
    assert ops.index("set boot pxe") < ops.index("set power 1")  # override before power-on
    assert not (Path(b.state_dir) / "boot-once").exists()  # consumed by that power-on
    calls = len(qmp.calls)
    drv.cycle()  # on: a power cycle, the override set first
    assert drv.status() is PowerState.ON
    assert "system_reset" in qmp.calls[calls:] and qmp.calls[-1] in ("cont", "query-status")
    drv.off()
    assert drv.status() is PowerState.OFF and not qmp.running


def test_a_wrong_password_is_an_error_naming_the_likely_cause(bmc: tuple[FakeQMP, vbmc.VirtualBMC]) -> None:
    _, b = bmc
    with pytest.raises(IPMIError, match="the BMC answers but refused the session: wrong user or password"):
        _driver(b, "not-the-password").status()


def test_a_bmc_that_does_not_answer_is_an_error_within_its_limit() -> None:
    drv = IPMIPowerDriver("127.0.0.1", "admin", PASSWORD, port=vbmc.free_udp_port(), cipher_suite=3, timeout_s=1,
                          retries=1)  # fmt: skip
    with pytest.raises(IPMIError, match="the BMC does not answer: check host and port"):
        drv.status()


def test_an_error_printed_with_exit_0_is_a_failure() -> None:
    """ipmitool can print an error and exit 0 (a refused bootdev on ipmi_sim's other wiring, say)."""

    def run(argv: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, "", "Error setting Chassis Boot Parameter 5: Invalid data field\n")

    drv = IPMIPowerDriver("bmc.lab", "admin", PASSWORD, run=run)
    with pytest.raises(IPMIError, match="Invalid data field"):
        drv.boot_once_pxe()


def test_the_password_is_never_on_the_command_line() -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []

    def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        seen.append((argv, kw["env"]))  # type: ignore[arg-type]
        return subprocess.CompletedProcess(argv, 0, "Chassis Power is on\n", "")

    assert IPMIPowerDriver("bmc.lab", "admin", PASSWORD, run=run).status() is PowerState.ON
    argv, env = seen[0]
    assert PASSWORD not in " ".join(argv) and "-E" in argv and env["IPMI_PASSWORD"] == PASSWORD
    assert argv[argv.index("-C") + 1] == "17"  # what real BMCs increasingly require, unless told otherwise


def test_the_registry_builds_it() -> None:
    drv = power_driver({"driver": "ipmi", "host": "10.1.2.3", "user": "u", "password": "p", "cipher_suite": 3})
    assert isinstance(drv, IPMIPowerDriver) and drv.cipher_suite == 3 and drv.port == 623


def test_credentials_resolve_from_the_environment_and_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplab.credentials import resolve_power, resolve_powers

    vault_pw = tmp_path / "vault-pass"
    vault_pw.write_text("vault-secret\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(vault_pw))
    vault = str(Path(sys.executable).parent / "ansible-vault")
    enc = subprocess.run([vault, "encrypt_string", "bmc-pw-1", "--name", "vault_bmc_password"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert enc.returncode == 0, enc.stderr
    enc = enc.stdout  # type: ignore[assignment]
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(str(enc))
    inv = tmp_path / "hosts.yml"
    power = "swaplab_power: {driver: ipmi, host: 127.0.0.1, user: admin, password: "
    env = "{{ lookup('ansible.builtin.env', 'SWAPLAB_TEST_PW') }}"
    inv.write_text(f"all:\n  hosts:\n    b1:\n      {power}'{{{{ vault_bmc_password }}}}'}}\n"
                   f'    b2:\n      {power}"{env}"}}\n')  # fmt: skip
    monkeypatch.setenv("SWAPLAB_TEST_PW", "env-pw-2")
    resolved = [resolve_power(str(inv), b)["password"] for b in ("b1", "b2")]
    assert resolved == ["bmc-pw-1", "env-pw-2"]
    both = resolve_powers(str(inv), ["b1", "b2"])  # one interpreter for every blade: the inventory read once
    assert [both[b]["password"] for b in ("b1", "b2")] == ["bmc-pw-1", "env-pw-2"]


def test_consoles_are_validated() -> None:
    from swaplab.drivers import console_problems

    ipmi = {"driver": "ipmi", "host": "10.0.0.5", "user": "u", "password": "p"}
    assert console_problems({"driver": "ipmi-sol"}, ipmi) == []
    assert "needs swaplab_power driver ipmi" in console_problems({"driver": "ipmi-sol"}, {"driver": "qmp"})[0]
    assert "absolute path" in console_problems({"driver": "file", "path": "rel.log"}, ipmi)[0]
    assert "unknown" in console_problems({"driver": "telnet"}, ipmi)[0]


class TelnetSerial:
    """A blade's serial port as the virtual lab wires it (a telnet server, as QEMU's is): writes a kernel-log
    line every 0.2 s and keeps every byte it is sent (a SOL break arrives as telnet IAC BREAK)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = int(self.sock.getsockname()[1])
        self.received = bytearray()
        self.done = threading.Event()
        threading.Thread(target=self._talk, daemon=True).start()

    def _talk(self) -> None:
        import contextlib

        conn, _ = self.sock.accept()
        conn.settimeout(0.2)
        with conn:
            n = 0
            while not self.done.is_set():
                n += 1
                try:
                    conn.sendall(f"[ {n}.000000] swaplab serial line {n}\r\n".encode())
                except OSError:  # the BMC hung up (it was stopped): the serial port's end
                    return
                with contextlib.suppress(TimeoutError):
                    self.received += conn.recv(4096)

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@pytest.mark.parametrize("transport", ["auto", "ipmitool"])
def test_the_sol_console_is_recorded_with_arrival_times_and_takes_sysrq(tmp_path: Path, transport: str) -> None:
    """ipmi_sim's SOL, recorded by swaplab's recorder (pyghmi first, ipmitool the fallback); sysrq-w through it
    reaches the serial port as a break followed by the key, as a UART needs it for magic sysrq."""
    import time

    from swaplab.drivers.solconsole import SOLRecorder, sol_sysrq

    serial = TelnetSerial()
    qmp = FakeQMP(tmp_path / "blade1.qmp", running=True)
    b = vbmc.start_ipmi(tmp_path, "blade1", str(qmp.path), serial.port, PASSWORD)
    out = tmp_path / "run" / "blade1" / "console-sol.log"
    rec = SOLRecorder({"host": "127.0.0.1", "port": b.port, "user": vbmc.BMC_USER, "password": PASSWORD,
                       "cipher_suite": 3}, out, transport=transport)  # fmt: skip
    try:
        rec.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"swaplab serial line" not in (out.read_bytes() if out.exists() else b""):
            time.sleep(0.3)
        sol_sysrq(out, "w")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"\xff\xf3w" not in serial.received:
            time.sleep(0.2)
    finally:
        rec.stop()
        serial.close()
        procs.stop(Path(b.pidfile))  # TERM, then KILL; reaped, gone
        qmp.close()
    assert b"swaplab serial line" in out.read_bytes()
    first = (out.parent / "console-sol.log.times").read_text().splitlines()[0].split()
    assert int(first[0]) == 0 and abs(float(first[1]) - time.time()) < 60
    # IAC BREAK, then the key: nothing between them, or the UART would take that as the sysrq key.
    assert b"\xff\xf3w" in serial.received, serial.received[-40:]
    events = (out.parent / "console-sol.log.events").read_text()
    assert f"SOL activated with {'pyghmi' if transport == 'auto' else 'ipmitool'}" in events
    assert "sysrq w sent" in events
    assert rec.proc is not None and rec.proc.returncode is not None  # stopped, by its PID
    assert not (out.parent / "console-sol.log.ctl").exists()


def test_sysrq_without_a_recorder_is_a_clear_error(tmp_path: Path) -> None:
    from swaplab.drivers.solconsole import sol_sysrq

    with pytest.raises(RuntimeError, match=r"the SOL recorder of .* did not take sysrq w"):
        sol_sysrq(tmp_path / "console-sol.log", "w", timeout=1)
    with pytest.raises(ValueError, match="not a sysrq key"):
        sol_sysrq(tmp_path / "console-sol.log", "w; reboot")


def test_a_dropped_sol_session_is_reconnected(tmp_path: Path) -> None:
    """Another client deactivates the session (as a crashed run's would be): the recorder sees the drop at
    its next keepalive (pyghmi: under 30 s), starts afresh under the same PID, and records on."""
    import time

    from swaplab.drivers.solconsole import SOLRecorder

    serial = TelnetSerial()
    qmp = FakeQMP(tmp_path / "blade1.qmp", running=True)
    b = vbmc.start_ipmi(tmp_path, "blade1", str(qmp.path), serial.port, PASSWORD)
    out = tmp_path / "console-sol.log"
    events = tmp_path / "console-sol.log.events"
    rec = SOLRecorder({"host": "127.0.0.1", "port": b.port, "user": vbmc.BMC_USER, "password": PASSWORD,
                       "cipher_suite": 3}, out)  # fmt: skip
    try:
        rec.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "activated" not in (events.read_text() if events.exists() else ""):
            time.sleep(0.3)
        _driver(b).sol_deactivate()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and events.read_text().count("SOL activated") < 2:
            time.sleep(0.5)
        size = out.stat().st_size
        time.sleep(1.5)
        grew = out.stat().st_size - size
        pid = rec.proc.pid if rec.proc else None
        alive = rec.proc is not None and rec.proc.poll() is None
    finally:
        rec.stop()
        serial.close()
        procs.stop(Path(b.pidfile))
        qmp.close()
    text = events.read_text()
    assert "SOL session dropped" in text and "starts afresh" in text and text.count("SOL activated") >= 2, text
    assert alive and pid is not None and grew > 0  # the same recorder process, recording again


# --- a SOL held by someone else (a lab's console server) is never evicted ---------------------------


class ConsoleServer:
    """A lab's own console logger: ``ipmitool sol activate`` holding the blade's one SOL session."""

    def __init__(self, b: vbmc.VirtualBMC) -> None:
        import time

        env = dict(os.environ, IPMI_PASSWORD=PASSWORD)
        self.proc = subprocess.Popen(_driver(b).argv("sol", "activate"), env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _driver(b).sol_active():
            time.sleep(0.3)

    def close(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write(b"\r~.")
            self.proc.stdin.flush()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def sol_bmc(tmp_path: Path) -> Iterator[tuple[vbmc.VirtualBMC, TelnetSerial]]:
    serial = TelnetSerial()
    qmp = FakeQMP(tmp_path / "blade1.qmp", running=True)
    b = vbmc.start_ipmi(tmp_path, "blade1", str(qmp.path), serial.port, PASSWORD)
    yield b, serial
    procs.stop(Path(b.pidfile))
    serial.close()
    qmp.close()


def test_the_bmc_says_whether_its_sol_is_held(sol_bmc: tuple[vbmc.VirtualBMC, TelnetSerial]) -> None:
    b, _ = sol_bmc
    assert _driver(b).sol_active() is False
    server = ConsoleServer(b)
    try:
        assert _driver(b).sol_active() is True
    finally:
        server.close()


def _sol_inventory(tmp_path: Path, b: vbmc.VirtualBMC, takeover: bool) -> Path:
    inv = tmp_path / "hosts.yml"
    env = "{{ lookup('ansible.builtin.env', 'SWAPLAB_TEST_PW') }}"
    inv.write_text(
        "all:\n  children:\n    nas:\n      hosts:\n        nas: {swaplab_lab_address: 10.0.0.1}\n"
        "    blades:\n      hosts:\n        r1-b01:\n"
        f"          swaplab_power: {{driver: ipmi, host: 127.0.0.1, port: {b.port}, user: {vbmc.BMC_USER}, "
        f'cipher_suite: 3, password: "{env}"}}\n'
        f"          swaplab_console: {{driver: ipmi-sol, takeover: {str(takeover).lower()}}}\n"
        "          swaplab_mac: '52:54:00:00:00:11'\n          ansible_host: 10.0.0.11\n"
    )
    return inv


def test_a_held_sol_stops_the_run_before_it_acts_naming_both_fixes(
    tmp_path: Path, sol_bmc: tuple[vbmc.VirtualBMC, TelnetSerial], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the recorder took the session by force (pyghmi force=True, ipmitool deactivate first), evicting
    the lab's console server, which then fought back."""
    from swaplab.inventory import load_and_validate
    from swaplab.run import RunError
    from swaplab.run.suites import check_consoles

    b, _ = sol_bmc
    monkeypatch.setenv("SWAPLAB_TEST_PW", PASSWORD)
    server = ConsoleServer(b)
    try:
        inv = load_and_validate(str(_sol_inventory(tmp_path, b, takeover=False)))
        with pytest.raises(RunError) as e:
            check_consoles(inv, ["r1-b01"])
        text = str(e.value)
        assert "r1-b01: its BMC's Serial-over-LAN is held by another client" in text
        assert "swaplab_console: {driver: file" in text and "takeover: true" in text and PASSWORD not in text
        assert server.proc.poll() is None  # the console server still holds its session
        allowed = load_and_validate(str(_sol_inventory(tmp_path, b, takeover=True)))
        check_consoles(allowed, ["r1-b01"])  # no error
    finally:
        server.close()


def test_the_recorder_never_evicts_a_console_server_unless_allowed(
    tmp_path: Path, sol_bmc: tuple[vbmc.VirtualBMC, TelnetSerial]
) -> None:
    import time

    from swaplab.drivers.solconsole import SOLRecorder

    b, _ = sol_bmc
    settings = {"host": "127.0.0.1", "port": b.port, "user": vbmc.BMC_USER, "password": PASSWORD, "cipher_suite": 3}
    server = ConsoleServer(b)
    out = tmp_path / "polite" / "console-sol.log"
    rec = SOLRecorder(settings, out)
    try:
        rec.start()
        events = out.parent / "console-sol.log.events"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "held by another client" not in (
            events.read_text() if events.exists() else ""
        ):
            time.sleep(0.3)
        time.sleep(2)
        assert server.proc.poll() is None, "the recorder evicted the console server"
        assert "held by another client" in events.read_text() and "SOL activated" not in events.read_text()
    finally:
        rec.stop()
    # With takeover allowed, it takes the session (the inventory said so).
    out2 = tmp_path / "takeover" / "console-sol.log"
    rec2 = SOLRecorder(settings, out2, takeover=True)
    try:
        rec2.start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and "SOL activated" not in (
            (out2.parent / "console-sol.log.events").read_text() if out2.parent.exists() and
            (out2.parent / "console-sol.log.events").exists() else ""
        ):  # fmt: skip
            time.sleep(0.3)
        assert "SOL activated" in (out2.parent / "console-sol.log.events").read_text()
    finally:
        rec2.stop()
        server.close()


# --- BMC discipline --------------------------------------------------------------------------------


def test_one_operation_at_a_time_per_bmc_and_a_cap_per_controller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight callers (an Ansible fork each, as a rack's power-on makes them) ask two BMCs at once: never two
    ipmitool sessions on one BMC, both BMCs served side by side, and with a cap of 1 never two at all. Before:
    every caller ran its ipmitool at once (a BMC gives 4 sessions)."""
    import threading
    import time

    from swaplab.drivers import bmcturn

    monkeypatch.setenv("SWAPLAB_LOCK_DIR", str(tmp_path))
    lock = threading.Lock()
    inside: dict[str, int] = {}
    most: dict[str, int] = {}
    overall = [0, 0]

    def runner(argv: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        bmc = argv[argv.index("-p") + 1]
        with lock:
            inside[bmc] = inside.get(bmc, 0) + 1
            most[bmc] = max(most.get(bmc, 0), inside[bmc])
            overall[0] += 1
            overall[1] = max(overall[1], overall[0])
        time.sleep(0.15)
        with lock:
            inside[bmc] -= 1
            overall[0] -= 1
        return subprocess.CompletedProcess(argv, 0, "Chassis Power is on\n", "")

    def ask(port: int) -> None:
        drv = IPMIPowerDriver("127.0.0.1", "admin", PASSWORD, port=port, cipher_suite=3, run=runner)
        assert drv.status() is PowerState.ON

    threads = [threading.Thread(target=ask, args=(6230 + i % 2,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most == {"6230": 1, "6231": 1} and overall[1] == 2
    monkeypatch.setattr(bmcturn, "MAX_BMC_OPS", 1)
    overall[1] = 0
    threads = [threading.Thread(target=ask, args=(6240 + i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert overall[1] == 1


def test_power_state_polls_back_off() -> None:
    from swaplab.drivers.protocols import wait_for_state

    class Slow:
        def __init__(self) -> None:
            self.polls: list[float] = []

        def status(self) -> PowerState:
            import time

            self.polls.append(time.monotonic())
            return PowerState.OFF

    s = Slow()
    assert wait_for_state(s, PowerState.ON, seconds=4.0, poll_s=0.5, max_poll_s=2.0) is False  # type: ignore[arg-type]
    gaps = [round(b - a, 1) for a, b in zip(s.polls, s.polls[1:], strict=False)]
    assert gaps[:3] == [0.5, 0.8, 1.1] and len(s.polls) <= 6  # once a second would have been 8 polls


# --- every IPMI session is closed ------------------------------------------------------------------


def _active_sessions(b: vbmc.VirtualBMC) -> int:
    """Sessions active on the BMC, less the one asking (``Get Session Info``, as ipmitool prints it)."""
    import re

    out = _driver(b)._ipmitool("session", "info", "active")
    m = re.search(r"active sessions\s*:\s*(\d+)", out)
    assert m, out
    return int(m.group(1)) - 1


def test_a_stopped_sol_recorder_leaves_no_session_open_on_the_bmc(tmp_path: Path) -> None:
    """The recorder logs its pyghmi session out when stopped. Before: pyghmi's close() only deactivated the SOL
    payload, and the BMC kept the session (one of its four) until its own timeout: one leaked per blade per run,
    measured on the simulated rack (bench/README.md)."""
    import time

    from swaplab.drivers.solconsole import SOLRecorder

    serial = TelnetSerial()
    qmp = FakeQMP(tmp_path / "blade1.qmp", running=True)
    b = vbmc.start_ipmi(tmp_path, "blade1", str(qmp.path), serial.port, PASSWORD)
    out = tmp_path / "console-sol.log"
    events = tmp_path / "console-sol.log.events"
    rec = SOLRecorder({"host": "127.0.0.1", "port": b.port, "user": vbmc.BMC_USER, "password": PASSWORD,
                       "cipher_suite": 3}, out)  # fmt: skip
    try:
        assert _active_sessions(b) == 0
        rec.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "activated" not in (events.read_text() if events.exists() else ""):
            time.sleep(0.3)
        during = _active_sessions(b)
        rec.stop()
        after = _active_sessions(b)
    finally:
        rec.stop()
        serial.close()
        procs.stop(Path(b.pidfile))
        qmp.close()
    assert "SOL activated with pyghmi" in events.read_text()
    assert during == 1  # the recorder's one session
    assert after == 0


def test_a_killed_ipmitool_leaves_its_bmc_alone_until_its_session_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ipmitool killed on its limit may leave its session open on the BMC (a handful of sessions: 4 on many):
    the next operation on that BMC waits out the BMC's inactivity timeout; another BMC is not held up. Before:
    the next call went at once, and a BMC that answers slowly collected killed sessions until it refused all."""
    import time

    from swaplab.drivers import bmcturn

    monkeypatch.setenv("SWAPLAB_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(bmcturn, "QUIET_AFTER_KILL_S", 1.5)
    calls: list[tuple[str, float]] = []

    def runner(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        port = argv[argv.index("-p") + 1]
        calls.append((port, time.monotonic()))
        if port == "6250" and len(calls) == 1:
            raise subprocess.TimeoutExpired(argv, float(kw["timeout"]))  # type: ignore[arg-type]
        return subprocess.CompletedProcess(argv, 0, "Chassis Power is on\n", "")

    slow = IPMIPowerDriver("127.0.0.1", "admin", PASSWORD, port=6250, cipher_suite=3, run=runner)
    other = IPMIPowerDriver("127.0.0.1", "admin", PASSWORD, port=6251, cipher_suite=3, run=runner)
    with pytest.raises(IPMIError, match=r"no answer .* left alone"):
        slow.status()
    t0 = time.monotonic()
    assert other.status() is PowerState.ON
    assert time.monotonic() - t0 < 1.0  # another BMC goes on at once
    assert slow.status() is PowerState.ON
    assert calls[2][1] - calls[0][1] >= 1.4  # this one waited out the quiet period


def test_power_ons_go_in_waves_without_holding_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``wave`` blades are in PXE at once, each keeping its place ``pxe_s`` after its power-on while its
    caller (an Ansible fork, a recovery) goes on at once; a failed power-on frees its place at once. Before:
    every blade of a rack was powered on at once (the simulated rack measured 20 of 100 in PXE together)."""
    import time

    from swaplab.drivers.bmcturn import pxe_wave

    monkeypatch.setenv("SWAPLAB_LOCK_DIR", str(tmp_path))
    waits, held = [], []
    for _ in range(2):
        t0 = time.monotonic()
        with pxe_wave(2, 1.5) as waited:
            waits.append(waited)
        held.append(time.monotonic() - t0)
    assert max(waits) < 0.5 and max(held) < 0.5  # two places: both at once, neither caller kept
    with pxe_wave(2, 1.5) as waited:  # the third waits for the first place to come free
        pass
    assert 1.0 <= waited <= 3.0
    with pytest.raises(RuntimeError), pxe_wave(1, 30.0, timeout_s=5):
        raise RuntimeError("the BMC refused")
    t0 = time.monotonic()
    with pxe_wave(1, 0.1, timeout_s=5):
        pass
    assert time.monotonic() - t0 < 1.0  # the failed one's place was free at once
    with pxe_wave(0, 30.0) as waited:
        assert waited == 0.0  # no waves


def test_a_credential_whose_variable_is_unset_is_named_before_anything_acts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inventory's BMC password is a template on an environment variable that is not set: it renders
    empty, and the run stops before it asks any BMC (exit 2 through RunError), naming the variable, never
    as an internal error out of the driver."""
    from swaplab import errors
    from swaplab.inventory import load_and_validate
    from swaplab.run import RunError
    from swaplab.run.suites import check_consoles

    monkeypatch.delenv("SWAPLAB_TEST_PW", raising=False)
    b = vbmc.VirtualBMC(blade="r1-b01", port=9, sol_port=9, pidfile="", state_dir="")  # no BMC is asked
    inv = load_and_validate(str(_sol_inventory(tmp_path, b, takeover=True)))
    with pytest.raises(RunError) as e:
        check_consoles(inv, ["r1-b01"])
    text = str(e.value)
    assert "r1-b01: swaplab_power: power driver ipmi lacks password" in text, text
    assert "unset or empty in the environment: SWAPLAB_TEST_PW" in text and "swaplab_power: swaplab_power" not in text
    assert errors.exit_code(e.value) == 2
