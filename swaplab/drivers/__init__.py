"""Drivers: how swaplab uses a machine's power and console, behind small protocols.

``protocols.py`` says what a driver must do; ``qmpdriver.py``, ``ipmidriver.py`` and
``redfishdriver.py`` are the power drivers, ``fileconsole.py`` and ``solconsole.py`` the consoles.

``POWER`` is the one registry of power drivers: each entry declares the settings
it takes and says whether it accepts a blade's settings (with the reason if
not). Inventory validation asks it, and ``power_driver`` builds from it, so a
driver that cannot act is refused before anything starts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from swaplab.drivers.protocols import ConsoleProtocol, PowerProtocol, PowerState

__all__ = [
    "CONSOLE",
    "CONSOLES",
    "POWER",
    "ConsoleProtocol",
    "ConsoleSpec",
    "PowerProtocol",
    "PowerSpec",
    "PowerState",
    "console_driver",
    "console_problems",
    "power_driver",
]


# Every Jinja construct Ansible would act on: an expression, a statement (``{% %}``: loops, ``set``,
# calls), a comment. Any of them in a value makes it a template.
JINJA_MARKS = ("{{", "{%", "{#")
# The forms a credential may take, whole: a variable (from Ansible Vault) or an environment variable.
CREDENTIAL_FORMS = re.compile(
    r"\{\{\s*(?:[A-Za-z_][A-Za-z0-9_]*"
    r"|lookup\(\s*(['\"])(?:ansible\.builtin\.)?env\1\s*,\s*(['\"])(?P<env>[A-Za-z_][A-Za-z0-9_]*)\2\s*\))\s*\}\}"
)
CREDENTIAL_FIX = ("write it as a Vault variable (\"{{ vault_bmc_password }}\") or as "
                  "\"{{ lookup('ansible.builtin.env', 'NAME') }}\", nothing more")  # fmt: skip


def is_template(value: object) -> bool:
    return isinstance(value, str) and any(mark in value for mark in JINJA_MARKS)


def is_credential_form(value: str) -> bool:
    """A template of exactly one of the documented credential forms (nothing else runs on the controller)."""
    return CREDENTIAL_FORMS.fullmatch(value.strip()) is not None


def env_variable(value: object) -> str | None:
    """The environment variable a credential template looks up (its name, never a value), if it is one."""
    m = CREDENTIAL_FORMS.fullmatch(value.strip()) if isinstance(value, str) else None
    return m.group("env") if m else None


def url_for_message(url: str) -> str:
    """A URL as it may be printed: any user:password@ taken out."""
    return re.sub(r"(?<=//)[^/?#]*@", "", url)


@dataclass(frozen=True)
class PowerSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    # Settings that may be Ansible templates (credentials from Vault or the environment).
    templated: tuple[str, ...] = ()
    # Why this driver cannot act in this version of swaplab, if it cannot.
    unavailable: str | None = None
    # Further checks of concrete (untemplated) settings: problems, each with its fix.
    checks: Callable[[Mapping[str, object]], list[str]] = field(default=lambda _s: [])
    # The driver, from settings it accepts (its module imported only when one is built).
    build: Callable[[Mapping[str, object]], PowerProtocol] | None = None

    def problems(self, settings: Mapping[str, object]) -> list[str]:
        """What stops this driver from acting with ``settings`` (empty: it accepts them)."""
        out = [f"power driver {self.name} cannot act: {self.unavailable}"] if self.unavailable else []
        unknown = sorted(set(settings) - {"driver", *self.required, *self.optional})
        if unknown:
            out.append(f"power driver {self.name} takes no {', '.join(unknown)} (it takes "
                       f"{', '.join((*self.required, *self.optional))})")  # fmt: skip
        missing = [k for k in self.required if settings.get(k) in (None, "")]
        if missing:
            hint = " (take passwords from Ansible Vault or the environment)" if "password" in missing else ""
            out.append(f"power driver {self.name} lacks {', '.join(missing)}{hint}")
        for k, v in settings.items():
            if is_template(v) and k not in self.templated:
                out.append(f"power setting {k} is a template: only {', '.join(self.templated) or 'no setting'} may be")
            elif is_template(v) and isinstance(v, str) and not is_credential_form(v):
                out.append(f"power setting {k} is a template of a form swaplab does not run: {CREDENTIAL_FIX}")
        return out + ([] if missing else self.checks(settings))


def _host_problem(host: str) -> str | None:
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return None
    label = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.I)
    if host and len(host) <= 253 and all(label.fullmatch(part) for part in host.rstrip(".").split(".")):
        return None
    return f"{host!r} is neither an IP address nor a DNS name"


def _ipmi_checks(s: Mapping[str, object]) -> list[str]:
    out = []
    if problem := _host_problem(str(s.get("host", ""))):
        out.append(f"ipmi host {problem}")
    port, cipher = s.get("port", 623), s.get("cipher_suite", 17)
    if not (type(port) is int and 1 <= port <= 65535):  # a bool is an int in Python: not a port
        out.append(f"ipmi port {port!r} is not a port number (1-65535)")
    if not (type(cipher) is int and 0 <= cipher <= 17):
        out.append(f"ipmi cipher_suite {cipher!r} is not an IPMI cipher suite (0-17; real BMCs want 17)")
    elif cipher == 0:
        out.append("ipmi cipher_suite 0 has no authentication at all (anyone on the BMC network could power the "
                   "blade): use 17, or 3 for an older BMC")  # fmt: skip
    return out


def _redfish_checks(s: Mapping[str, object]) -> list[str]:
    from urllib.parse import urlsplit

    url = str(s.get("url", ""))
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return [f"redfish url {url_for_message(url)!r} is not a URL"]
    verify = s.get("verify", True)
    out = []
    if parts.scheme == "http" and verify is not False:
        out.append(f"redfish url {url_for_message(url)} is http: use https (the BMC's credentials cross the "
                   "network), or write verify: false to accept an unauthenticated, unencrypted BMC")  # fmt: skip
    elif parts.scheme not in ("https", "http"):
        out.append(f"redfish url {url_for_message(url)!r} is not an https URL")
    if problem := _host_problem(host):
        out.append(f"redfish url host {problem}")
    if parts.username or parts.password or parts.query or parts.fragment:
        out.append("redfish url: put no credentials, query or fragment in it (user and password are settings)")
    if not (isinstance(verify, bool) or (isinstance(verify, str) and os.path.isabs(verify))):
        out.append(f"redfish verify {verify!r}: true, false, or the absolute path of the lab's CA bundle")
    return out


def _qmp_checks(s: Mapping[str, object]) -> list[str]:
    sock = str(s.get("socket", ""))
    return [] if os.path.isabs(sock) else [f"qmp socket {sock!r} is not an absolute path"]


def qmp_ready(sock: str) -> str | None:
    """Why the QMP socket cannot be used, if it cannot (the preflight's check, before anything acts)."""
    try:
        mode = os.stat(sock).st_mode
    except OSError:
        return f"qmp socket {sock} does not exist: is the machine's QEMU running (`swaplab lab up`)?"
    return None if stat.S_ISSOCK(mode) else f"qmp socket {sock} is not a socket"


def _qmp(s: Mapping[str, object]) -> PowerProtocol:
    from swaplab.drivers.qmpdriver import QMPPowerDriver

    if problem := qmp_ready(str(s["socket"])):
        raise ValueError(problem)
    return QMPPowerDriver(str(s["socket"]))


def _ipmi(s: Mapping[str, object]) -> PowerProtocol:
    from swaplab.drivers.ipmidriver import IPMIPowerDriver

    port, cipher = s.get("port", 623), s.get("cipher_suite", 17)
    return IPMIPowerDriver(str(s["host"]), str(s["user"]), str(s["password"]), port=int(str(port)),
                           cipher_suite=int(str(cipher)))  # fmt: skip


def _redfish(s: Mapping[str, object]) -> PowerProtocol:
    from swaplab.drivers.redfishdriver import RedfishPowerDriver

    verify = s.get("verify", True)
    return RedfishPowerDriver(str(s["url"]), str(s["user"]), str(s["password"]),
                              verify=verify if isinstance(verify, bool) else str(verify),
                              system=str(s["system"]) if s.get("system") else None)  # fmt: skip


POWER: dict[str, PowerSpec] = {
    "qmp": PowerSpec("qmp", required=("socket",), checks=_qmp_checks, build=_qmp),
    "ipmi": PowerSpec(
        "ipmi", required=("host", "user", "password"), optional=("port", "cipher_suite"),
        templated=("user", "password"), checks=_ipmi_checks, build=_ipmi,
    ),
    "redfish": PowerSpec(
        "redfish", required=("url", "user", "password"), optional=("verify", "system"),
        templated=("user", "password"), checks=_redfish_checks, build=_redfish,
    ),
}  # fmt: skip


def power_problems(settings: object) -> list[str]:
    """What is wrong with an inventory's ``swaplab_power`` value (empty: a driver accepts it)."""
    if settings is None:
        return ["no swaplab_power: set {driver: qmp|ipmi|redfish, ...} so swaplab can power-cycle it"]
    if not isinstance(settings, dict):
        return [f"swaplab_power must be a mapping with a driver, not {type(settings).__name__}"]
    spec = POWER.get(str(settings.get("driver")))
    if spec is None:
        return [f"swaplab_power driver {settings.get('driver')!r} is unknown: use one of {', '.join(POWER)}"]
    return [f"swaplab_power: {p}" for p in spec.problems(settings)]


# Consoles: where a blade's console stream comes from. `file` follows a log a console server
# (conserver, ser2net, QEMU) writes; `ipmi-sol` records the blade's Serial-over-LAN through the
# BMC its swaplab_power names (swaplab.drivers.solconsole).
def _file_console_problems(console: Mapping[str, object], _power: object) -> list[str]:
    path = str(console.get("path", ""))
    return [] if os.path.isabs(path) else [f"swaplab_console driver file needs an absolute path, not {path!r}"]


def _sol_console_problems(console: Mapping[str, object], power: object) -> list[str]:
    ok = isinstance(power, dict) and power.get("driver") == "ipmi"
    out = [] if ok else ["swaplab_console driver ipmi-sol needs swaplab_power driver ipmi (its BMC carries the SOL)"]
    if not isinstance(console.get("takeover", False), bool):
        out.append(f"swaplab_console takeover {console['takeover']!r}: true or false (may swaplab evict another "
                   "client's SOL session; default false)")  # fmt: skip
    if unknown := sorted(set(console) - {"driver", "takeover"}):
        out.append(f"swaplab_console driver ipmi-sol takes no {', '.join(map(str, unknown))} (it takes takeover)")
    return out


def _file_console(spec: Mapping[str, object]) -> ConsoleProtocol:
    """A console server's log; sysrq through QMP's keyboard when the blade has a QMP socket."""
    from swaplab.drivers.fileconsole import FileConsole

    path, sock = str(spec["path"]), spec.get("qmp_socket")
    if sock:
        from swaplab.drivers.qmpdriver import QMPPowerDriver

        return FileConsole(path, sysrq=lambda key: QMPPowerDriver(str(sock)).send_sysrq(key))
    return FileConsole(path)


def _sol_console(spec: Mapping[str, object]) -> ConsoleProtocol:
    """The file the SOL recorder fills; sysrq through the recorder's session."""
    from pathlib import Path

    from swaplab.drivers.fileconsole import FileConsole
    from swaplab.drivers.solconsole import sol_sysrq

    path = str(spec["path"])
    return FileConsole(path, sysrq=lambda key: sol_sysrq(Path(path), key))


@dataclass(frozen=True)
class ConsoleSpec:
    # What is wrong with an inventory's swaplab_console of this driver (given the blade's swaplab_power).
    problems: Callable[[Mapping[str, object], object], list[str]]
    # The console a run's context names ({driver, path[, qmp_socket]}).
    build: Callable[[Mapping[str, object]], ConsoleProtocol]


# Consoles: where a blade's console stream comes from. `file` follows a log a console server
# (conserver, ser2net, QEMU) writes; `ipmi-sol` records the blade's Serial-over-LAN through the
# BMC its swaplab_power names (swaplab.drivers.solconsole).
CONSOLE: dict[str, ConsoleSpec] = {
    "file": ConsoleSpec(_file_console_problems, _file_console),
    "ipmi-sol": ConsoleSpec(_sol_console_problems, _sol_console),
}
CONSOLES = tuple(CONSOLE)


def console_problems(console: object, power: object) -> list[str]:
    """What is wrong with an inventory's ``swaplab_console`` (none is allowed: no console is read)."""
    if console is None:
        return []
    if not isinstance(console, dict):
        return [f"swaplab_console must be a mapping with a driver, not {type(console).__name__}"]
    spec = CONSOLE.get(str(console.get("driver")))
    if spec is None:
        return [f"swaplab_console driver {console.get('driver')!r} is unknown: use one of {', '.join(CONSOLES)}"]
    return spec.problems(console, power)


def console_driver(spec: Mapping[str, object] | None) -> ConsoleProtocol | None:
    """The console a run's context names for a blade (``Run`` writes it): ``{driver, path[, qmp_socket]}``."""
    if not spec:
        return None
    found = CONSOLE.get(str(spec.get("driver")))
    if found is None:
        raise ValueError(f"console driver {spec.get('driver')!r} is unknown: use one of {', '.join(CONSOLES)}")
    return found.build(spec)


def power_driver(settings: dict[str, object]) -> PowerProtocol:
    """Build the power driver an inventory's ``swaplab_power`` mapping names (after templating)."""
    problems = power_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))
    build = POWER[str(settings["driver"])].build
    if build is None:
        raise ValueError(f"power driver {settings['driver']!r} has no implementation")
    return build(settings)
