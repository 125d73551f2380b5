"""The ``ipmi-sol`` console: a blade's Serial-over-LAN stream, recorded for the whole run, and sysrq through it.

``python -m swaplab.drivers.solconsole HOST PORT USER CIPHER OUT`` (the password in
``IPMI_PASSWORD``) is one recorder per blade, a process of its own. It keeps a
SOL session open, appends every byte to OUT and, per chunk, ``OFFSET EPOCH`` to
``OUT.times`` (when each part arrived); what it does (transport, drops,
reconnects, sysrq) goes to ``OUT.events``. When the session drops it reconnects,
and it never stops by itself: ``SOLRecorder.stop`` ends it by its PID.

The client, chosen deliberately:
- **pyghmi** first. It speaks SOL natively, sends a break as a SOL packet flag,
  and, only when the inventory allows it (``swaplab_console: {takeover: true}``),
  takes over a session another client holds (``force=True``). Its
  console must run in a process of its own (one that made an IPMI command to the
  same BMC first never activates: ``notes/real-bmc.md``): this process is that.
  It negotiates its cipher suite by itself (17, then 3).
- **ipmitool** ``sol activate`` on a pipe (Ironic's way) when pyghmi cannot
  activate a session within ``ACTIVATE_S`` (after ``sol deactivate`` frees the
  session, with takeover only). A break is its escape ``~B`` at the start of a line.

Shared politely: a BMC gives one SOL session, and a lab's own console server
(conserver and the like) may hold it. Without takeover the recorder never evicts
it: while the SOL is held by another client it records nothing, says so in
``OUT.events``, and asks again every ``BUSY_RETRY_S`` (``swaplab run`` refuses to
start, exit 2, when a blade's SOL is held at the outset).

sysrq: the recorder listens on a unix socket ``OUT.ctl``; ``sol_sysrq(OUT, key)``
asks it to send a break and then the key on the session it holds (a serial
console reads break + key as magic sysrq). Only the recorder can: a BMC gives
one SOL session at a time.

What the fleet suites read is OUT, like any console file (``file`` driver):
the console protocol is the same whichever transport filled it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from swaplab.drivers.ipmidriver import IPMIPowerDriver

RECONNECT_S = 2.0
BUSY_RETRY_S = 30.0  # without takeover: how often a held SOL is asked about again
ACTIVATE_S = 20.0  # pyghmi's session set-up, both cipher suites tried, takes 2-10 s
SYSRQ_KEYS = frozenset("bcdefghijklmnopqrstuvwxyz0123456789")


class _Stop(BaseException):  # not Exception: pyghmi catches those
    pass


def _raise_stop(_signum: int, _frame: object) -> None:
    raise _Stop


def control_path(out: Path) -> Path:
    return out.parent / (out.name + ".ctl")


class _Sink:
    """OUT, its arrival times, and the recorder's own event log."""

    def __init__(self, out: Path) -> None:
        self.data: IO[bytes] = out.open("ab")
        self.times: IO[str] = (out.parent / (out.name + ".times")).open("a")
        self.events: IO[str] = (out.parent / (out.name + ".events")).open("a")

    def write(self, chunk: bytes) -> None:
        self.times.write(f"{self.data.tell()} {time.time():.3f}\n")
        self.data.write(chunk)
        self.data.flush()
        self.times.flush()

    def event(self, what: str) -> None:
        self.events.write(f"{time.time():.3f} {what}\n")
        self.events.flush()


class _Control:
    """The recorder's unix socket: one request a connection, ``sysrq KEY``, answered ``ok`` or ``error ...``."""

    def __init__(self, path: Path) -> None:
        if len(str(path).encode()) > 107:
            raise ValueError(f"{path}: too long for a unix socket (107 bytes); use a shorter run directory")
        path.unlink(missing_ok=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o600)
        self.sock.listen(4)
        self.sock.setblocking(False)

    def serve(self, sysrq: Callable[[str], None]) -> None:
        """Answer every request waiting now (never blocks the recording for long)."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    words = conn.recv(64).decode("ascii", "replace").split()
                    if len(words) == 2 and words[0] == "sysrq" and words[1] in SYSRQ_KEYS:
                        sysrq(words[1])
                        conn.sendall(b"ok\n")
                    else:
                        conn.sendall(b"error: the request is `sysrq KEY`\n")
                except Exception as e:  # the answer carries it; the recording goes on
                    with contextlib.suppress(OSError):
                        conn.sendall(f"error: {e}\n".encode())

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def sol_sysrq(out: Path, key: str, timeout: float = 15.0) -> None:
    """Ask the recorder of console file ``out`` to send magic sysrq ``key`` (break, then the key)."""
    if key not in SYSRQ_KEYS:
        raise ValueError(f"{key!r} is not a sysrq key")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(control_path(out)))
            s.sendall(f"sysrq {key}\n".encode())
            answer = s.recv(512).decode(errors="replace").strip()
        except OSError as e:
            raise RuntimeError(f"the SOL recorder of {out} did not take sysrq {key}: {e}") from e
    if answer != "ok":
        raise RuntimeError(f"the SOL recorder of {out} could not send sysrq {key}: {answer or 'no answer'}")


# -- the two transports --------------------------------------------------------------------------


def _pyghmi_session(drv: IPMIPowerDriver, sink: _Sink, ctl: _Control, takeover: bool = False) -> bool:
    """One pyghmi SOL session, recorded until it drops. False if it never activated."""
    from pyghmi.ipmi import console as pconsole

    state: dict[str, str] = {}

    def handler(data: object) -> None:
        if isinstance(data, dict):
            if "error" in data:
                state["error"] = str(data["error"])
            return
        if isinstance(data, str):
            sink.write(data.encode())
        elif isinstance(data, bytes | bytearray):
            sink.write(bytes(data))

    con = pconsole.Console(drv.host, drv.user, drv.password, iohandler=handler, port=drv.port, force=takeover)
    deadline = time.monotonic() + ACTIVATE_S
    while not con.connected and "error" not in state and time.monotonic() < deadline:
        con.wait_for_rsp(0.5)
    if not con.connected:
        sink.event(f"pyghmi did not activate SOL: {state.get('error', f'nothing within {ACTIVATE_S:.0f} s')}")
        _close(con)
        return False
    sink.event("SOL activated with pyghmi")

    def sysrq(key: str) -> None:
        con.send_break()
        con.send_data(key.encode())
        sink.event(f"sysrq {key} sent (SOL break, then the key)")

    try:
        while "error" not in state:
            con.wait_for_rsp(0.5)
            ctl.serve(sysrq)
    finally:
        _close(con)
    sink.event(f"SOL session dropped: {state['error']}")
    return True


def _close(con: Any) -> None:
    """Deactivate the SOL payload and log the session out: pyghmi's ``close`` does only the first, and the
    BMC then keeps the session (one of its handful) until its own timeout."""
    con.close()
    session = getattr(con, "ipmi_session", None)
    if session is not None:
        with contextlib.suppress(Exception):  # a session that already dropped has nothing to log out
            session.logout()


def _ipmitool_session(drv: IPMIPowerDriver, sink: _Sink, ctl: _Control, takeover: bool = False) -> None:
    """One ``ipmitool sol activate`` session, recorded until it ends."""
    env = dict(os.environ, IPMI_PASSWORD=drv.password)
    if takeover:  # another client's session would refuse ours ("SOL payload already active")
        subprocess.run(drv.argv("sol", "deactivate"), env=env, capture_output=True, timeout=30, check=False)
    proc = subprocess.Popen(drv.argv("sol", "activate"), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    stdin = proc.stdin
    sink.event("SOL activated with ipmitool")

    def sysrq(key: str) -> None:
        # ipmitool's escape character counts only at the start of a line: CR, then ~B (break), then the
        # key, each let out before the next (else the CR can reach the UART after the break and be
        # taken as the sysrq key).
        for part in (b"\r", b"~B", key.encode()):
            stdin.write(part)
            stdin.flush()
            time.sleep(0.5)
        sink.event(f"sysrq {key} sent (ipmitool ~B, then the key)")

    try:
        fd = proc.stdout.fileno()
        while True:
            ready, _, _ = select.select([fd, ctl.sock.fileno()], [], [], 1.0)
            if fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                sink.write(chunk)
            if ctl.sock.fileno() in ready:
                ctl.serve(sysrq)
    finally:
        # ipmitool's own escape ends the session at the BMC (a killed ipmitool leaves it active there until
        # the BMC times it out, holding the one SOL instance and a session slot); killed only if it will not.
        with contextlib.suppress(OSError):
            stdin.write(b"\r~.")
            stdin.flush()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            subprocess.run(drv.argv("sol", "deactivate"), env=env, capture_output=True, timeout=30, check=False)
    sink.event("SOL session (ipmitool) ended")


def _held_by_another(drv: IPMIPowerDriver, sink: _Sink) -> bool:
    """Without takeover: is the SOL held by someone else now? (An error asking counts as no: try.)"""
    try:
        busy = drv.sol_active()
    except Exception as e:
        sink.event(f"could not ask the BMC whether its SOL is held: {e}")
        return False
    if busy:
        sink.event(f"SOL held by another client (a console server?): not taken over; asking again in "
                   f"{BUSY_RETRY_S:.0f} s")  # fmt: skip
    return busy


def record(drv: IPMIPowerDriver, out: Path, transport: str = "auto", restart: list[str] | None = None,
           takeover: bool = False) -> int:  # fmt: skip
    """Record until SIGTERM. ``restart`` is this process's own command line: after a pyghmi session
    drops, the recorder starts afresh with it (same PID), because pyghmi keeps its sessions in
    process-wide state and a second console to the same BMC in one process does not activate."""
    signal.signal(signal.SIGTERM, _raise_stop)  # interrupts a blocking wait; the session is closed below
    sink, ctl = _Sink(out), _Control(control_path(out))
    use_pyghmi = transport in ("auto", "pyghmi")
    try:
        while True:
            if not takeover and _held_by_another(drv, sink):
                _serve_for(ctl, sink, BUSY_RETRY_S)
                continue
            if use_pyghmi:
                activated = _pyghmi_session(drv, sink, ctl, takeover)
                if activated and restart:
                    ctl.close()
                    time.sleep(RECONNECT_S)
                    sink.event("reconnecting: the recorder starts afresh")
                    os.execv(sys.executable, [sys.executable, *restart])  # noqa: S606 - this program, anew
                if not activated and transport == "auto":
                    sink.event("falling back to ipmitool sol activate")
                    use_pyghmi = False
            else:
                _ipmitool_session(drv, sink, ctl, takeover)
            time.sleep(RECONNECT_S)  # the session dropped: reconnect
    except _Stop:
        pass
    finally:
        ctl.close()
    sink.event("recorder stopped")
    return 0


def _serve_for(ctl: _Control, sink: _Sink, seconds: float) -> None:
    """Wait, answering sysrq requests with a refusal (no session: nothing can be sent)."""

    def refuse(key: str) -> None:
        sink.event(f"sysrq {key} not sent: the SOL is held by another client")
        raise RuntimeError("the SOL is held by another client")

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([ctl.sock.fileno()], [], [], min(1.0, max(0.0, deadline - time.monotonic())))
        if ready:
            with contextlib.suppress(RuntimeError):
                ctl.serve(refuse)


class SOLRecorder:
    """One blade's recorder process, started and stopped by this run (by its PID)."""

    def __init__(self, settings: dict[str, object], out: Path, transport: str = "auto", takeover: bool = False,
                 ) -> None:  # fmt: skip
        self.settings, self.out, self.transport, self.takeover = settings, out, transport, takeover
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        s = self.settings
        env = dict(os.environ, IPMI_PASSWORD=str(s["password"]), SWAPLAB_SOL_TRANSPORT=self.transport,
                   SWAPLAB_SOL_TAKEOVER="1" if self.takeover else "0")  # fmt: skip
        argv = [sys.executable, "-m", "swaplab.drivers.solconsole", str(s["host"]), str(s.get("port", 623)),
                str(s["user"]), str(s.get("cipher_suite", 17)), str(self.out)]  # fmt: skip
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: solconsole HOST PORT USER CIPHER OUT (password in IPMI_PASSWORD)", file=sys.stderr)
        return 2
    host, port, user, cipher, out = argv
    drv = IPMIPowerDriver(host, user, os.environ.get("IPMI_PASSWORD", ""), port=int(port), cipher_suite=int(cipher))
    transport = os.environ.get("SWAPLAB_SOL_TRANSPORT", "auto")
    if transport not in ("auto", "pyghmi", "ipmitool"):
        print(f"SWAPLAB_SOL_TRANSPORT={transport!r}: use auto, pyghmi or ipmitool", file=sys.stderr)
        return 2
    takeover = os.environ.get("SWAPLAB_SOL_TAKEOVER", "0") == "1"
    return record(drv, Path(out), transport, restart=["-m", "swaplab.drivers.solconsole", *argv], takeover=takeover)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
