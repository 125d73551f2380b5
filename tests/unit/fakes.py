"""Fakes that speak the real protocols, for unit tests of logic (never a lab's stand-in)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class FakeQMP:
    """A QEMU machine's QMP socket: greeting, capabilities, query-status, stop, cont, system_reset, sendkey.

    ``running`` is the vCPU state; ``calls`` every command in order."""

    def __init__(self, path: Path, running: bool = False) -> None:
        self.path = path
        self.running = running
        self.calls: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                f.write(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
                f.flush()
                for line in f:
                    msg = json.loads(line)
                    f.write(json.dumps({"return": self._do(msg["execute"], msg.get("arguments"))}).encode() + b"\r\n")
                    f.flush()

    def _do(self, command: str, _args: Any) -> Any:
        if command != "qmp_capabilities":
            self.calls.append(command)
        if command == "query-status":
            return {"running": self.running, "status": "running" if self.running else "paused"}
        if command == "stop":
            self.running = False
        elif command == "cont":
            self.running = True
        return {}

    def close(self) -> None:
        self._sock.close()


class FakeConsole:
    """A blade's console stream in memory (the console protocol): ``emit`` is the kernel printing; a sysrq
    is answered as a kernel answers it (``w``: "sysrq: Show Blocked State")."""

    def __init__(self) -> None:
        self.stream = bytearray()
        self.sysrqs: list[str] = []

    def emit(self, text: str) -> None:
        self.stream += text.encode()

    def mark(self) -> int:
        return len(self.stream)

    def since(self, mark: int) -> bytes:
        return bytes(self.stream[mark:])

    def follow(self, timeout: float, mark: int | None = None) -> Iterator[str]:
        deadline = time.monotonic() + timeout
        offset = self.mark() if mark is None else mark
        while time.monotonic() < deadline:
            data, offset = self.since(offset), self.mark()
            yield from (line.rstrip("\r") for line in data.decode(errors="replace").splitlines())
            time.sleep(0.05)

    def send_sysrq(self, key: str) -> None:
        self.sysrqs.append(key)
        if key == "w":
            self.emit("[  321.000000] sysrq: Show Blocked State\r\n[  321.000100] task:kworker/u2:1 state:D\r\n")


class FakeBlade:
    """A blade as swaplab's ``Remote`` sees it (run a shell command, fetch a tar), scripted: it answers the
    commands ``BladeSession`` and ``LoadRunner`` send, and runs a load as told by ``behaviour``:

    - ``"ok"``: the load finishes (state ``done``, rc 0) at the first poll;
    - ``"panic"``: the console prints a panic and the blade stops answering;
    - ``"hang"``: the blade stops answering and prints nothing;
    - ``"crash"``: PID 1 segfaults on the console; the blade still answers, its load never ends;
    - ``"stall"``: the hog's progress stands still while the blade answers every poll (a stopped hog);
    - ``"corrupt"``: the load finishes, and its hog.json names bad pages.

    Nothing runs on this machine: commands are matched, never executed."""

    RELEASE = "6.1.0-test-amd64"

    def __init__(self, console: FakeConsole, behaviour: str = "ok") -> None:
        self.name = "blade1"
        self.console = console
        self.behaviour = behaviour
        self.answering = True
        self.commands: list[str] = []
        self.scripts: list[str] = []  # what was sent on stdin (a load's job script, the agent)
        self.polls = 0

    def _answer(self, command: str) -> tuple[int, str]:
        if "uname -r" in command:
            return 0, self.RELEASE + "\n"
        if "/proc/vmstat" in command and "tainted" in command:
            return 0, "oom_kill 0\npgscan_direct_throttle 0\npswpin 10\npswpout 20\ntainted 0\n"
        if "/proc/swaps" in command and "stat -f" in command:
            return 0, "/mnt/nfsswap/swapfile 10 nfs\n/dev/nbd0 5 ext2/ext3\n"
        if "MemTotal" in command:
            return 0, "196608\n"
        if "job.sh" in command and "setsid" in command:
            self.console.emit("[  300.000000] swaplab: load started\r\n")
            if self.behaviour == "panic":
                self.console.emit("[  301.000000] Kernel panic - not syncing: Out of memory and no killable "
                                  "processes...\r\n")  # fmt: skip
                self.answering = False
            elif self.behaviour == "hang":
                self.answering = False
            elif self.behaviour == "crash":
                self.console.emit("[  301.000000] systemd[1]: segfault at 7f00 ip 00007f12 sp 00007ffc error 4 in "
                                  "libc.so.6[7f12+155000] likely on CPU 0 (core 0, socket 0)\r\n")  # fmt: skip
            return 0, ""
        if "journalctl" in command:
            return 0, "Dec 06 08:00:00 blade1 systemd[1]: Caught <SEGV>, dumped core as pid 999.\n"
        if "/state" in command and self.behaviour in ("crash", "stall"):  # a poll: running, progress standing
            self.polls += 1
            if self.behaviour == "stall" and self.polls > 2:
                return 0, 'progress {"phase": "verify1", "pages_done": 950, "pages": 1000}\n'
            return 0, f'progress {{"phase": "verify1", "pages_done": {100 * self.polls}, "pages": 1000}}\n'
        if "/state" in command:  # a poll: the load has finished
            return 0, "done\n"
        return 0, ""

    def run(self, command: str, timeout: float, stdin: bytes | None = None, abort: Any = None) -> Any:
        from swaplab.fleet.remote import RemoteError, Result

        self.commands.append(command)
        if stdin is not None:
            self.scripts.append(stdin.decode(errors="replace"))
        if not self.answering:
            raise RemoteError(f"{self.name}: no answer within {timeout:.0f} s")
        rc, out = self._answer(command)
        return Result(rc, out, "")

    def run_bytes(self, remote: str, limit: float, stdin: bytes | None = None, abort: Any = None
                  ) -> tuple[int, bytes, bytes]:  # fmt: skip
        import io
        import tarfile

        from swaplab.fleet.remote import RemoteError

        self.commands.append(remote)
        if not self.answering:
            raise RemoteError(f"{self.name}: no answer within {limit:.0f} s")
        files = {"rc": b"0\n", "t_start": b"300.0\n", "t_ready": b"300.5\n", "t_end": b"310.0\n", "state": b"done\n",
                 "hog.pid": b"4242\n", "dmesg.txt": b"[  300.2] swaplab: nothing wrong\n",
                 "hog.json": json.dumps({"ok": True, "mib": 384}).encode()}  # fmt: skip
        if self.behaviour == "corrupt":
            files["hog.json"] = json.dumps({"status": "done", "mib": 384, "bad_pages": 63}).encode()
        if self.behaviour in ("crash", "stall"):  # taken as it stood: no end, no rc
            files = {k: v for k, v in files.items() if k not in ("rc", "t_end", "state", "hog.json")}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo("./" + name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return 0, buf.getvalue(), b""

    def close(self) -> None:
        pass
