"""Power through a BMC's Redfish service, with sushy (the Redfish library Ironic uses).

``ComputerSystem.Reset`` (On, ForceOff, ForceRestart) for power, and a ``Boot``
override to Pxe with ``Once`` before every power-on or restart that is meant to
netboot the blade. https with certificate verification by default; a lab CA is
given as ``verify: /path/to/ca.pem``, and ``verify: false`` only when written
out in the inventory. Every request has a connect and a read limit.
"""

from __future__ import annotations

import time
from typing import Any

from swaplab import errors
from swaplab.drivers.bmcturn import bmc_turn
from swaplab.drivers.protocols import PowerState, wait_for_state
from swaplab.slots import SlotTimeout

POWER_ON_DWELL_S = 1.0
STATE_WAIT_S = 30.0
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 20


class RedfishError(errors.Infrastructure):
    """The BMC refused, failed or did not answer."""


class RedfishPowerDriver:
    def __init__(self, url: str, user: str, password: str, verify: bool | str = True, system: str | None = None,
                 ) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.user, self.password = user, password
        self.verify = verify
        self.system_id = system
        self._system: Any = None
        self._on_at: float | None = None

    def _sys(self) -> Any:
        import sushy
        from sushy import exceptions

        if self._system is not None:
            return self._system
        try:
            conn = sushy.Sushy(
                self.url + "/redfish/v1", username=self.user, password=self.password, verify=self.verify,
                connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S, server_side_retries=1,
                server_side_retries_delay=1,
            )  # fmt: skip
            path = self.system_id or next(iter(conn.get_system_collection().members_identities))
            self._system = conn.get_system(path if path.startswith("/") else f"/redfish/v1/Systems/{path}")
        except exceptions.AccessError as e:
            raise RedfishError(f"BMC {self.url}: access refused ({e.status_code}): wrong user or password") from e
        except exceptions.ConnectionError as e:
            raise RedfishError(f"BMC {self.url}: does not answer ({_first_line(e)}): check the URL, "
                               "and with https the certificate (verify)") from e  # fmt: skip
        except (exceptions.SushyError, StopIteration) as e:
            raise RedfishError(f"BMC {self.url}: {_first_line(e) or 'no system'}") from e
        return self._system

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One request to the BMC, in its turn (``bmcturn``: one at a time per BMC, a cap per controller)."""
        from urllib.parse import urlsplit

        from sushy import exceptions

        parts = urlsplit(self.url)
        try:
            with bmc_turn(parts.hostname or "?", parts.port or 443):
                return fn(*args, **kwargs)
        except SlotTimeout as e:
            raise RedfishError(f"BMC {self.url}: busy: {e} (another swaplab process keeps it)") from None
        except exceptions.SushyError as e:
            raise RedfishError(f"BMC {self.url}: {what} failed: {_first_line(e)}") from e

    def status(self) -> PowerState:
        import sushy

        system = self._sys()
        self._call("refresh", system.refresh)
        state = system.power_state
        if state in (sushy.PowerState.ON, sushy.PowerState.POWERING_OFF):
            return PowerState.ON
        if state in (sushy.PowerState.OFF, sushy.PowerState.POWERING_ON):
            return PowerState.OFF
        return PowerState.UNKNOWN

    def boot_once_pxe(self) -> None:
        import sushy

        self._call("the boot override to Pxe (Once)", self._sys().set_system_boot_options, sushy.BootSource.PXE,
                   enabled=sushy.BootSourceOverrideEnabled.ONCE)  # fmt: skip

    def _reset(self, kind: Any) -> None:
        self._call(f"Reset {kind.value}", self._sys().reset_system, kind)

    def _wait_for(self, state: PowerState) -> bool:
        return wait_for_state(self, state, STATE_WAIT_S)

    def on(self) -> None:
        import sushy

        if self.status() is PowerState.ON:
            return
        self.boot_once_pxe()
        self._reset(sushy.ResetType.ON)
        self._on_at = time.monotonic()
        if not self._wait_for(PowerState.ON):
            raise RedfishError(f"BMC {self.url}: the system is not on {STATE_WAIT_S:.0f} s after Reset On")

    def off(self) -> None:
        import sushy

        self._reset(sushy.ResetType.FORCE_OFF)
        if not self._wait_for(PowerState.OFF):
            raise RedfishError(f"BMC {self.url}: the system is still on {STATE_WAIT_S:.0f} s after ForceOff")

    def cycle(self) -> None:
        """Into PXE: the override, then On if off or ForceRestart if on (after the power-on dwell)."""
        import sushy

        if self.status() is not PowerState.ON:
            self.on()
            return
        if self._on_at is not None:
            time.sleep(max(0.0, POWER_ON_DWELL_S - (time.monotonic() - self._on_at)))
        self.boot_once_pxe()
        self._reset(sushy.ResetType.FORCE_RESTART)
        self._on_at = time.monotonic()


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:300]
