"""Power through a BMC's IPMI-over-LAN (RMCP+), with ipmitool as the client.

Why ipmitool, not pyghmi: it is what Ironic drives for IPMI, every lab engineer
can rerun the exact command swaplab ran, and it runs in a process of its own
with a hard time limit, so a BMC that stops answering cannot hang swaplab.
pyghmi retries its own way and, per the lab notes, cannot open a console
after a command to the same BMC in one process.

Every call is explicit about what a rack needs:
- the cipher suite (``-C``, default 17, the one real BMCs increasingly
  require; OpenIPMI's ipmi_sim needs 3), the timeout (``-N``) and retries
  (``-R``), and an overall limit on the process;
- the password through the environment (``-E``: ``IPMI_PASSWORD``), never on
  a command line that ``ps`` shows;
- ipmitool can print an error and still exit 0: any output that says an
  error, a failure or an unreachable BMC is a failure here.

Every power-on and cycle is preceded by a one-time boot override to PXE
(``chassis bootdev pxe``, not persistent), so the blade netboots into the
kernel under test whatever its BIOS order says.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable

from swaplab import errors
from swaplab.drivers.bmcturn import QUIET_AFTER_KILL_S, bmc_turn, quiet
from swaplab.drivers.protocols import PowerState, wait_for_state
from swaplab.slots import SlotTimeout

# A cycle or reset right after power-on can wedge a machine (seen with QEMU: a reset a few ms
# after `cont` left the vCPU spinning in the BIOS for good). Power-on is given this long first.
POWER_ON_DWELL_S = 1.0
# How long a BMC is given to report the power state it was asked for.
STATE_WAIT_S = 30.0
ERROR_RE = re.compile(r"error|fail|unable|invalid|insufficient|not supported|timeout|unauthori[sz]ed", re.I)

Runner = Callable[..., subprocess.CompletedProcess[str]]


class IPMIError(errors.Infrastructure):
    """The BMC refused, failed or did not answer."""


class IPMIPowerDriver:
    def __init__(
        self, host: str, user: str, password: str, port: int = 623, cipher_suite: int = 17,
        timeout_s: int = 3, retries: int = 2, run: Runner = subprocess.run,
    ) -> None:  # fmt: skip
        self.host, self.user, self.password = host, user, password
        self.port, self.cipher_suite = port, cipher_suite
        self.timeout_s, self.retries = timeout_s, retries
        self._run = run
        self._on_at: float | None = None

    def argv(self, *command: str) -> list[str]:
        """The ipmitool command line (the password is not on it)."""
        return [
            "ipmitool", "-I", "lanplus", "-H", self.host, "-p", str(self.port), "-U", self.user, "-E",
            "-C", str(self.cipher_suite), "-N", str(self.timeout_s), "-R", str(self.retries), *command,
        ]  # fmt: skip

    def _ipmitool(self, *command: str) -> str:
        if len(self.password.encode()) > 20:
            raise IPMIError(f"BMC {self.host}:{self.port}: the password is longer than IPMI's 20 bytes")
        limit = self.timeout_s * (self.retries + 1) * 3 + 10  # session set-up takes several exchanges
        env = dict(os.environ, IPMI_PASSWORD=self.password)
        try:
            with bmc_turn(self.host, self.port):
                try:
                    r = self._run(self.argv(*command), capture_output=True, text=True, env=env, timeout=limit,
                                  check=False)  # fmt: skip
                except subprocess.TimeoutExpired:
                    quiet(self.host, self.port)  # the killed ipmitool may have left its session open there
                    raise
        except SlotTimeout as e:
            raise IPMIError(f"BMC {self.host}:{self.port}: busy: {e} (another swaplab process keeps it)") from None
        except subprocess.TimeoutExpired:
            what = " ".join(command)
            raise IPMIError(f"BMC {self.host}:{self.port}: no answer to `{what}` within {limit} s (it is left "
                            f"alone {QUIET_AFTER_KILL_S:.0f} s: a session the killed ipmitool opened times out "
                            "there first)") from None  # fmt: skip
        except FileNotFoundError:
            raise IPMIError("ipmitool is not installed: apt-get install ipmitool") from None
        said = " ".join(line.strip() for line in (r.stderr + "\n" + r.stdout).splitlines() if line.strip())
        if r.returncode != 0 or ERROR_RE.search(r.stderr):
            what = said[-300:] or f"exit {r.returncode}"
            if "RMCP+ session" in said or "password" in said.lower():
                # ipmitool says the same for a BMC that is not there and one that refused the session.
                if rmcp_ping(self.host, self.port):
                    what += " (the BMC answers but refused the session: wrong user or password, or it does not "
                    what += f"offer cipher suite {self.cipher_suite})"
                else:
                    what += " (the BMC does not answer: check host and port, and that it is powered)"
            raise IPMIError(f"BMC {self.host}:{self.port}: `{' '.join(command)}` failed: {what}")
        return r.stdout

    def status(self) -> PowerState:
        out = self._ipmitool("chassis", "power", "status").strip().lower()
        if out.endswith(" on"):
            return PowerState.ON
        if out.endswith(" off"):
            return PowerState.OFF
        raise IPMIError(f"BMC {self.host}:{self.port}: unexpected power status {out!r}")

    def boot_once_pxe(self) -> None:
        """A one-time override: the next boot only is from the network."""
        self._ipmitool("chassis", "bootdev", "pxe")

    def on(self) -> None:
        if self.status() is PowerState.ON:
            return
        self.boot_once_pxe()
        self._ipmitool("chassis", "power", "on")
        self._on_at = time.monotonic()

    def off(self) -> None:
        self._ipmitool("chassis", "power", "off")

    def _dwell(self) -> None:
        if self._on_at is not None:
            time.sleep(max(0.0, POWER_ON_DWELL_S - (time.monotonic() - self._on_at)))

    def _wait_for(self, state: PowerState, seconds: float = STATE_WAIT_S) -> bool:
        return wait_for_state(self, state, seconds)

    def cycle(self) -> None:
        """Into PXE: off (if on) and on again, each step confirmed by the BMC, the override set just before on.

        As Ironic reboots over IPMI: ``chassis power cycle`` is asynchronous on many BMCs (ipmi_sim
        powers off and comes back later, or not), so the two steps are explicit and each is awaited."""
        if self.status() is PowerState.ON:
            self._dwell()
            self._ipmitool("chassis", "power", "off")
            if not self._wait_for(PowerState.OFF):
                raise IPMIError(
                    f"BMC {self.host}:{self.port}: the blade is still on {STATE_WAIT_S:.0f} s after power off"
                )
        self.boot_once_pxe()
        self._ipmitool("chassis", "power", "on")
        self._on_at = time.monotonic()
        if not self._wait_for(PowerState.ON):
            raise IPMIError(f"BMC {self.host}:{self.port}: the blade is not on {STATE_WAIT_S:.0f} s after power on")

    def reset(self) -> None:
        self.boot_once_pxe()
        self._dwell()
        self._ipmitool("chassis", "power", "reset")

    def sol_active(self) -> bool:
        """Does any client hold the BMC's SOL now? IPMI's Get Payload Activation Status (App 0x4A) for the
        SOL payload (1) answers its instance capacity, then a bitmask of the active instances."""
        out = self._ipmitool("raw", "0x06", "0x4a", "0x01").split()
        try:
            mask = [int(x, 16) for x in out[1:3]]
        except ValueError:
            mask = []
        if not mask:
            raise IPMIError(f"BMC {self.host}:{self.port}: no SOL activation status in its answer {out[:4]}")
        return any(mask)

    def sol_deactivate(self) -> None:
        """End the BMC's SOL session, whoever holds it (one left by a crashed run, say)."""
        try:
            self._ipmitool("sol", "deactivate")
        except IPMIError as e:
            if "already de-activated" not in str(e):
                raise


def rmcp_ping(host: str, port: int = 623, timeout_s: float = 1.0) -> bool:
    """An RMCP/ASF presence ping (IPMI v2, 13.2.3): does something that speaks IPMI answer there?"""
    ping = bytes.fromhex("0600ff06000011be80000000")  # RMCP header; ASF: IANA 4542, Presence Ping
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout_s)
            s.sendto(ping, (host, port))
            return len(s.recv(64)) > 0
    except OSError:
        return False
