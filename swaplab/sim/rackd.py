"""``python -m swaplab.sim.rackd RACK_DIR``: every simulated blade's power, serial line and faults, in one process.

Started by ``swaplab.sim.rack.up`` (detached, its PID in ``rackd.pid``), it reads ``rack.json`` and, per blade:

- **power**: ``on`` waits a boot delay, prints the kernel's first lines on the console and starts the
  blade's sshd in the blade's mount namespace; ``off`` kills every process of that namespace (the sshd,
  its sessions, the loads they started: the blade's whole userspace, as a power-off does). Asked by the
  blade's BMC (``swaplab.sim.chassis``, ipmi_sim's chassis control) through the control socket;
- **serial line**: a telnet server on the blade's console address, which its BMC's SOL connects to. What the
  blade prints goes there (and to ``console.log``); a telnet BREAK then a key is magic sysrq, answered as a
  kernel answers ``w`` and ``t``; the kernel log (``/dev/kmsg``, a FIFO in the blade) is stamped with the
  kernel's clock (``CLOCK_BOOTTIME``, the blades' ``/proc/uptime``) and kept for ``dmesg``;
- **faults** (control socket, for the bench): ``hang NAME|all`` stops a blade's processes and its console
  (a hung kernel), ``freeze-nas`` / ``thaw-nas`` stop the NAS's sshd and silence every blade (its root and
  swap are gone), ``say NAME|all TEXT`` prints a kernel line (a finding, for latency), ``chatter N`` makes
  every powered blade print N lines a second (consoles streaming).

Control socket requests are one line, answered with one line (``ok ...`` or ``error ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

IAC, BRK, SB, SE = 0xFF, 0xF3, 0xFA, 0xF0
SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
SYSRQ_ANSWERS = {
    "w": ["sysrq: Show Blocked State", "task:kworker/u4:2  state:D stack:0 pid:61 ppid:2 flags:0x00004000"],
    "t": ["sysrq: Show State", "task:systemd  state:S stack:0 pid:1 ppid:0 flags:0x00000002"],
}


def uptime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def ns_pids(ns_inode: int) -> list[int]:
    """Every process whose mount namespace is this one (a simulated blade's userspace)."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry.name}/ns/mnt").st_ino == ns_inode:
                    out.append(int(entry.name))
    return out


class Blade:
    def __init__(self, rack: Rack, spec: dict[str, Any]) -> None:
        self.rack = rack
        self.name: str = spec["name"]
        self.dir = Path(spec["dir"])
        self.address: str = spec["address"]
        self.sol: tuple[str, int] = (spec["sol_host"], int(spec["sol_port"]))
        self.ns = self.dir / "mnt.ns"
        self.ns_inode = os.stat(self.ns).st_ino
        self.power = False
        self.hung = False
        self.sshd: subprocess.Popen[bytes] | None = None
        self.boot_task: asyncio.Task[None] | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.console_log = (self.dir / "console.log").open("ab", buffering=0)
        self.dmesg = (self.dir / "dmesg").open("ab", buffering=0)
        self.kmsg_buf = b""

    # -- the serial line ----------------------------------------------------------------------------
    def print(self, text: str, kernel: bool = True) -> None:
        """Lines on the console; ``kernel`` ones stamped and kept for dmesg (a powered-off or hung blade
        prints nothing)."""
        if not self.power or self.hung:
            return
        out = b""
        for line in text.splitlines():
            if kernel:
                line = f"[{uptime():12.6f}] {line}"
                self.dmesg.write(line.encode() + b"\n")
            out += line.encode(errors="replace") + b"\r\n"
        self.console_log.write(out)
        data = out.replace(bytes([IAC]), bytes([IAC, IAC]))
        for w in list(self.writers):
            if w.is_closing():
                self.writers.discard(w)
            else:
                w.write(data)

    async def serve_sol(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The BMC's SOL end of the serial line: output to it, and telnet BREAK + key as sysrq."""
        self.writers.add(writer)
        brk = False
        try:
            while data := await reader.read(512):
                i = 0
                while i < len(data):
                    b = data[i]
                    if b == IAC and i + 1 < len(data):
                        cmd = data[i + 1]
                        if cmd == BRK:
                            brk = True
                            i += 2
                        elif cmd == SB:
                            end = data.find(bytes([IAC, SE]), i)
                            i = len(data) if end < 0 else end + 2
                        elif cmd in (0xFB, 0xFC, 0xFD, 0xFE):
                            i += 3
                        else:
                            i += 2
                        continue
                    if brk:
                        brk = False
                        key = chr(b)
                        for line in SYSRQ_ANSWERS.get(key, [f"sysrq: HELP : {key}"]):
                            self.print(line)
                    i += 1
        except (ConnectionError, OSError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def kmsg_readable(self, fd: int) -> None:
        """Lines the blade wrote to /dev/kmsg (``<5>swaplab: heartbeat 3``): into the kernel log."""
        try:
            self.kmsg_buf += os.read(fd, 65536)
        except BlockingIOError:
            return
        *lines, self.kmsg_buf = self.kmsg_buf.split(b"\n")
        for raw in lines:
            text = raw.decode(errors="replace")
            if text.startswith("<") and ">" in text[:5]:
                text = text.split(">", 1)[1]
            self.print(text)

    # -- power ------------------------------------------------------------------------------------
    async def on(self) -> None:
        if self.power:
            return
        self.power, self.hung = True, False
        self.boot_task = asyncio.create_task(self._boot())

    async def _boot(self) -> None:
        delay = self.rack.boot_s * random.uniform(0.8, 1.2)  # noqa: S311 - a boot's spread, not a secret
        started = time.time()
        self.rack.booting += 1
        self.rack.boot_peak = max(self.rack.boot_peak, self.rack.booting)
        try:
            await asyncio.sleep(delay)  # firmware, PXE, the kernel: the blade is "in PXE" now
        finally:
            self.rack.booting -= 1
        with (self.rack.dir / "boots.log").open("a") as log:
            log.write(f"{self.name} {started:.3f} {time.time():.3f} {self.rack.boot_peak}\n")
        # A booted blade swaps on nothing until the swap play (recover.yml, swap.yml) turns its areas on.
        (self.dir / "swaps").write_text(SWAPS_HEADER)
        self.dmesg.truncate(0)
        self.print(f"Linux version {self.rack.release} (simulated blade {self.name}) #1 SMP")
        self.print("Command line: console=ttyS0,115200 swaplab.sim=1")
        self.sshd = subprocess.Popen(
            ["nsenter", f"--mount={self.ns}", self.rack.sshd, "-D", "-f", str(self.dir / "sshd_config"),
             "-E", str(self.dir / "sshd.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.print(f"Debian GNU/Linux 12 {self.name} ttyS0", kernel=False)
        self.print(f"{self.name} login:", kernel=False)

    async def off(self) -> None:
        if self.boot_task is not None:
            self.boot_task.cancel()
            self.boot_task = None
        self.power, self.hung = False, False
        for pid in ns_pids(self.ns_inode):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGCONT)
        if self.sshd is not None:
            await asyncio.to_thread(self.sshd.wait)
            self.sshd = None

    def hang(self, hung: bool = True) -> None:
        """A hung kernel: nothing runs, nothing is printed, ssh does not answer (``hung`` False: it runs on)."""
        if not self.power:
            return
        for pid in ns_pids(self.ns_inode):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP if hung else signal.SIGCONT)
        self.hung = hung


class Rack:
    def __init__(self, rack_dir: Path) -> None:
        self.dir = rack_dir
        spec = json.loads((rack_dir / "rack.json").read_text())
        self.release: str = spec["release"]
        self.boot_s: float = float(spec["boot_s"])
        self.sshd: str = spec["sshd"]
        self.nas_ns = Path(spec["nas"]["dir"]) / "mnt.ns"
        self.nas_sshd: subprocess.Popen[bytes] | None = None
        self.nas_dir = Path(spec["nas"]["dir"])
        self.blades = {b["name"]: Blade(self, b) for b in spec["blades"]}
        self.chatter = 0.0
        self.nas_frozen = False
        self.booting = 0  # blades between power-on and sshd (in firmware and PXE)
        self.boot_peak = 0

    def start_nas(self) -> None:
        self.nas_sshd = subprocess.Popen(
            ["nsenter", f"--mount={self.nas_ns}", self.sshd, "-D", "-f", str(self.nas_dir / "sshd_config"),
             "-E", str(self.nas_dir / "sshd.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def freeze_nas(self, frozen: bool) -> None:
        ino = os.stat(self.nas_ns).st_ino
        for pid in ns_pids(ino):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        self.nas_frozen = frozen

    def select(self, what: str) -> list[Blade]:
        if what == "all":
            return list(self.blades.values())
        return [self.blades[n] for n in what.split(",") if n in self.blades]

    async def request(self, line: str) -> str:
        words = line.split(maxsplit=2)
        if not words:
            return "error: empty request"
        cmd = words[0]
        if cmd == "power" and len(words) == 3 and words[1] in self.blades:
            blade = self.blades[words[1]]
            if words[2] == "on":
                await blade.on()
            elif words[2] == "off":
                await blade.off()
            elif words[2] == "status":
                return f"ok {'on' if blade.power else 'off'}"
            else:
                return "error: power NAME on|off|status"
            return "ok"
        if cmd == "hang" and len(words) == 2:
            for b in self.select(words[1]):
                b.hang()
            return "ok"
        if cmd in ("freeze-nas", "thaw-nas"):
            frozen = cmd == "freeze-nas"
            self.freeze_nas(frozen)
            for b in self.blades.values():
                # A blade's root and swap are on the NAS: everything on it waits for the NAS, and goes on after.
                b.hang(frozen)
            return "ok"
        if cmd == "say" and len(words) == 3:
            for b in self.select(words[1]):
                b.print(words[2])
            return f"ok {time.time():.6f}"
        if cmd == "chatter" and len(words) == 2:
            self.chatter = float(words[1])
            return "ok"
        if cmd == "ping":
            return "ok"
        return f"error: unknown request {line[:80]!r}"

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode(errors="replace").strip()
            answer = await self.request(line)
        except Exception as e:  # one bad request never stops the rack
            answer = f"error: {type(e).__name__}: {e}"
        writer.write(answer.encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def chatter_loop(self) -> None:
        n = 0
        while True:
            rate = self.chatter
            if rate <= 0:
                await asyncio.sleep(0.5)
                continue
            n += 1
            for b in self.blades.values():
                b.print(f"sim: console chatter {n}", kernel=False)
            await asyncio.sleep(1.0 / rate)

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        for b in self.blades.values():
            await asyncio.start_server(b.serve_sol, b.sol[0], b.sol[1])
            fd = os.open(b.dir / "kmsg.fifo", os.O_RDWR | os.O_NONBLOCK)
            loop.add_reader(fd, b.kmsg_readable, fd)
        sock = self.dir / "rackd.sock"
        sock.unlink(missing_ok=True)
        await asyncio.start_unix_server(self.control, str(sock))
        self.start_nas()
        (self.dir / "rackd.ready").write_text("ready\n")
        chatter = asyncio.create_task(self.chatter_loop())
        await stop.wait()
        chatter.cancel()
        self.freeze_nas(False)
        for b in self.blades.values():
            await b.off()
        for pid in ns_pids(os.stat(self.nas_ns).st_ino):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m swaplab.sim.rackd RACK_DIR", file=sys.stderr)
        return 2
    asyncio.run(Rack(Path(argv[0])).main())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
