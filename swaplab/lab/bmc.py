"""Real BMC software in front of the virtual lab's blades (``lab up --bmc ipmi``).

One OpenIPMI ``ipmi_sim`` per blade, on its own UDP port of 127.0.0.1 (inside
the lab's network namespace), with a management controller, one admin user,
Serial-over-LAN to the blade's serial port (a TCP server QEMU offers) and
``swaplab.lab.chassis`` as its chassis-control program, which drives the
blade's QMP socket. swaplab then powers the blade exactly as on a rack: with
ipmitool, over RMCP+, through a BMC that checks the password.

Each BMC's configuration and state live in the lab's run directory (private to
root, as a BMC's own NVRAM would be); ipmi_sim logs only to syslog, so its
output file holds little. It is started in a session of its own and stopped by
the PID in its pidfile.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from swaplab import errors
from swaplab.drivers.ipmidriver import rmcp_ping

BMC_USER = "admin"
# ipmi_sim offers no cipher suite 17 and does not answer the cipher-suite query: 3 is what works.
IPMI_SIM_CIPHER_SUITE = 3
IPMI_MAX_PASSWORD = 20
PASSWORD_ENV = "SWAPLAB_BMC_PASSWORD"  # noqa: S105 - the variable's name
EMU = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
sel_enable 0x20 1000 0x0a
mc_enable 0x20
"""


class BMCError(errors.Infrastructure):
    pass


@dataclass
class VirtualBMC:
    blade: str
    port: int
    sol_port: int
    pidfile: str
    state_dir: str


def _bmc_env() -> dict[str, str]:
    """A BMC process's environment: swaplab's, less the password (the BMC has its own copy, as a BMC does)."""
    return {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters: IPMI v2 takes at most 20 bytes


def lan_conf(blade: str, port: int, sol_port: int, qmp: str, state_dir: Path, password: str) -> str:
    chassis = f"{sys.executable} -I -m swaplab.lab.chassis {qmp} {state_dir}"
    return f"""name "{blade}-bmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid {secrets.token_hex(16)}
  endlan
  chassis_control "{chassis}"
  sol "telnet:127.0.0.1:{sol_port}" 115200 history=65536
  user 2 true "{BMC_USER}" "{password}" admin 10 md5
"""


def start_ipmi(run: Path, blade: str, qmp: str, sol_port: int, password: str) -> VirtualBMC:
    """Start the blade's ipmi_sim; return once it answers on its port (or raise)."""
    if any(c in password for c in '"\\\n') or not 0 < len(password.encode()) <= IPMI_MAX_PASSWORD:
        raise BMCError(f"the BMC password in {PASSWORD_ENV} must be 1 to {IPMI_MAX_PASSWORD} bytes (IPMI v2), "
                       "without quotes or backslashes")  # fmt: skip
    state = run / f"bmc-{blade}"
    state.mkdir(mode=0o700)
    port = free_udp_port()
    conf = state / "lan.conf"
    conf.write_text(lan_conf(blade, port, sol_port, qmp, state, password))
    conf.chmod(0o600)
    (state / "emu").write_text(EMU)
    (state / "sim-state").mkdir()
    pidfile = run / f"bmc-{blade}.pid"
    with (state / "ipmi_sim.log").open("wb") as out:
        proc = subprocess.Popen(
            ["ipmi_sim", "-c", str(conf), "-f", str(state / "emu"), "-s", str(state / "sim-state"), "-n"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=_bmc_env(),
        )  # fmt: skip
    pidfile.write_text(f"{proc.pid}\n")
    bmc = VirtualBMC(blade, port, sol_port, str(pidfile), str(state))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BMCError(f"ipmi_sim for {blade} exited {proc.returncode}: see {state / 'ipmi_sim.log'}")
        if _answers(port):
            return bmc
        time.sleep(0.2)
    raise BMCError(f"ipmi_sim for {blade} does not answer on 127.0.0.1:{port}")


def _answers(port: int) -> bool:
    return rmcp_ping("127.0.0.1", port, 0.5)


# --- Redfish: one sushy-emulator for the lab, https with a lab CA ----------------------------------


@dataclass
class RedfishBMC:
    url: str
    ca: str
    pidfile: str
    state_dir: str


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise BMCError(f"openssl {args[0]} failed: {r.stderr.strip()[-300:]}")


def make_lab_ca(state: Path) -> tuple[Path, Path, Path]:
    """A CA of the lab's own and a certificate for 127.0.0.1 signed by it: (ca.pem, bmc.pem, bmc.key)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=swaplab lab CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=state)  # fmt: skip
    _openssl("req", *ec, "-keyout", "bmc.key", "-out", "bmc.csr", "-subj", "/CN=127.0.0.1", cwd=state)
    (state / "bmc.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                   "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    _openssl("x509", "-req", "-in", "bmc.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "bmc.pem", "-days", "30", "-extfile", "bmc.ext", cwd=state)  # fmt: skip
    for f in ("ca.key", "bmc.key"):
        (state / f).chmod(0o600)
    return state / "ca.pem", state / "bmc.pem", state / "bmc.key"


def start_redfish(run: Path, systems: list[dict[str, str]], password: str) -> RedfishBMC:
    """Start sushy-emulator for ``systems`` (name, qmp, mac); return once it answers over https."""
    import bcrypt

    if not password:
        raise BMCError(f"the BMC password in {PASSWORD_ENV} must be non-empty")
    state = run / "bmc-redfish"
    state.mkdir(mode=0o700)
    ca, cert, key = make_lab_ca(state)
    htpasswd = state / "htpasswd"
    # bcrypt cost 4: ~15 ms a request (cost 12 costs 0.5-0.8 s here, on every request).
    htpasswd.write_bytes(BMC_USER.encode() + b":" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)) + b"\n")
    htpasswd.chmod(0o600)
    port = free_tcp_port()
    entries = []
    for s in systems:
        d = state / s["name"]
        d.mkdir()
        entries.append({"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, s["name"] + s["mac"])), "name": s["name"],
                        "qmp": s["qmp"], "mac": s["mac"], "state_dir": str(d)})  # fmt: skip
    conf = state / "emulator.conf"
    conf.write_text(
        f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\nSUSHY_EMULATOR_LISTEN_PORT = {port}\n"
        f"SUSHY_EMULATOR_SSL_CERT = {str(cert)!r}\nSUSHY_EMULATOR_SSL_KEY = {str(key)!r}\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}\nSUSHY_EMULATOR_STATE_DIR = {str(state)!r}\n"
        f"SWAPLAB_SYSTEMS = {entries!r}\n"
    )
    pidfile = run / "bmc-redfish.pid"
    with (state / "emulator.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swaplab.lab.redfish_bmc", "--config", str(conf)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=_bmc_env(),
        )  # fmt: skip
    pidfile.write_text(f"{proc.pid}\n")
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BMCError(f"sushy-emulator exited {proc.returncode}: see {state / 'emulator.log'}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return RedfishBMC(url, str(ca), str(pidfile), str(state))
        time.sleep(0.3)
    raise BMCError(f"sushy-emulator does not answer on {url}")
