"""Power for a QEMU machine through its QMP socket.

A rack's blade is powered off when QEMU holds it stopped at reset (it is
started with ``-S``); on means running. Off = ``system_reset`` + ``stop`` with
a marker file beside the socket, so that a paused machine (fault injection:
``stop`` without reset) is not mistaken for one that is off.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from swaplab import errors
from swaplab.drivers.protocols import PowerState


class QMPError(errors.Infrastructure):
    pass


class QMP:
    """A minimal synchronous QMP client with a timeout on every exchange."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
            except OSError as e:
                raise QMPError(f"cannot reach QMP socket {self.path}: {e.strerror or e}") from e
            f = s.makefile("rwb")
            self._read(f)  # greeting
            self._send(f, {"execute": "qmp_capabilities"})
            self._read(f)
            msg: dict[str, Any] = {"execute": command}
            if arguments:
                msg["arguments"] = arguments
            self._send(f, msg)
            reply = self._read(f)
        if "error" in reply:
            raise QMPError(f"{command}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    @staticmethod
    def _send(f: Any, msg: dict[str, Any]) -> None:
        f.write(json.dumps(msg).encode() + b"\r\n")
        f.flush()

    @staticmethod
    def _read(f: Any) -> dict[str, Any]:
        while True:
            line = f.readline()
            if not line:
                raise QMPError("QMP connection closed")
            msg: dict[str, Any] = json.loads(line)
            if "event" not in msg:
                return msg


# A system_reset a few milliseconds after `cont` of a fresh machine can wedge the guest for good
# (vCPU spinning in the BIOS; seen in 1 to 6 of 8 tries, 0 of 8 with 0.3-1 s between). A cycle
# or reset waits this long after the last power-on, which is recorded beside the socket (each
# Ansible task or BMC request builds a new driver).
POWER_ON_DWELL_S = 1.0


class QMPPowerDriver:
    def __init__(self, socket_path: str) -> None:
        self.qmp = QMP(socket_path)
        self.off_marker = Path(socket_path + ".off")
        self.on_marker = Path(socket_path + ".on-at")

    def _powered_on(self) -> None:
        self.on_marker.write_text(f"{time.time():.3f}\n")

    def _dwell(self) -> None:
        try:
            since = time.time() - float(self.on_marker.read_text())
        except (OSError, ValueError):
            return
        if 0 <= since < POWER_ON_DWELL_S:
            time.sleep(POWER_ON_DWELL_S - since)

    def on(self) -> None:
        if self.status() is PowerState.ON:
            return
        self.off_marker.unlink(missing_ok=True)
        self.qmp.execute("system_reset")
        self.qmp.execute("cont")
        self._powered_on()

    def off(self) -> None:
        self.qmp.execute("stop")
        self.qmp.execute("system_reset")
        self.off_marker.touch()

    def cycle(self) -> None:
        self._dwell()
        self.off_marker.unlink(missing_ok=True)
        self.qmp.execute("stop")
        self.qmp.execute("system_reset")
        self.qmp.execute("cont")
        self._powered_on()

    def status(self) -> PowerState:
        try:
            st = self.qmp.execute("query-status")
        except QMPError:
            return PowerState.UNKNOWN
        if st.get("running"):
            return PowerState.ON
        return PowerState.OFF if self.off_marker.exists() else PowerState.PAUSED

    def pause(self) -> None:
        self.qmp.execute("stop")

    def resume(self) -> None:
        self.qmp.execute("cont")

    def send_sysrq(self, key: str) -> None:
        """Alt+SysRq+key on the machine's keyboard (the guest needs kernel.sysrq=1)."""
        self.qmp.execute("human-monitor-command", {"command-line": f"sendkey alt-sysrq-{key}"})
