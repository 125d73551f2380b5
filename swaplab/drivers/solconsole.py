"""The ``ipmi-sol`` console: a blade's Serial-over-LAN stream, recorded for the whole run.

``python -m swaplab.drivers.solconsole HOST PORT USER CIPHER OUT`` (the password in
``IPMI_PASSWORD``) is one recorder per blade. It deactivates a session left
stuck by an earlier run, then keeps ``ipmitool sol activate`` open on a pipe
(Ironic's way; pyghmi's console cannot share a process with a command to the
same BMC), appends every byte to OUT and, per chunk, ``OFFSET EPOCH`` to
``OUT.times`` (when each part arrived). When the session drops it reconnects,
and it never stops by itself: ``SOLRecorder.stop`` ends it by its PID.

What the fleet suites read is OUT, like any console file (``file`` driver):
the console protocol is the same whichever transport filled it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from swaplab.drivers.ipmidriver import IPMIPowerDriver

RECONNECT_S = 2.0


class _Stop(Exception):
    pass


def _raise_stop(_signum: int, _frame: object) -> None:
    raise _Stop


def record(drv: IPMIPowerDriver, out: Path) -> int:
    signal.signal(signal.SIGTERM, _raise_stop)  # interrupts a blocking read; the session is closed below
    env = dict(os.environ, IPMI_PASSWORD=drv.password)
    with out.open("ab") as sink, (out.parent / (out.name + ".times")).open("a") as times:
        try:
            while True:
                _session(drv, env, sink, times)
                time.sleep(RECONNECT_S)  # the session dropped: reconnect
        except _Stop:
            pass
    subprocess.run(drv.argv("sol", "deactivate"), env=env, capture_output=True, timeout=30, check=False)
    return 0


def _session(drv: IPMIPowerDriver, env: dict[str, str], sink: IO[bytes], times: IO[str]) -> None:
    """One SOL session, recorded until it ends."""
    # A session an earlier run left open would refuse ours ("SOL payload already active").
    subprocess.run(drv.argv("sol", "deactivate"), env=env, capture_output=True, timeout=30, check=False)
    proc = subprocess.Popen(drv.argv("sol", "activate"), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None
    try:
        while chunk := os.read(proc.stdout.fileno(), 65536):
            times.write(f"{sink.tell()} {time.time():.3f}\n")
            sink.write(chunk)
            sink.flush()
            times.flush()
    finally:
        proc.kill()
        proc.wait()


class SOLRecorder:
    """One blade's recorder process, started and stopped by this run (by its PID)."""

    def __init__(self, settings: dict[str, object], out: Path) -> None:
        self.settings, self.out = settings, out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        s = self.settings
        env = dict(os.environ, IPMI_PASSWORD=str(s["password"]))
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
    return record(drv, Path(out))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
