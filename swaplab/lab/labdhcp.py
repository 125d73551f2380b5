"""The lab's own DHCP server (``lab up --dhcp lab``): a lab that already has one, for proxy-DHCP.

A rack usually has a DHCP server swaplab does not own; swaplab's dnsmasq on the
NAS then runs as proxy-DHCP (``pxe_server__mode: proxy``) and answers only the
PXE part. To exercise that path, the virtual lab plays the rack's DHCP server:
a dnsmasq that hands out addresses only (no boot options), on a tap joined to
the lab's vde switch (``vde_plug2tap``). Both run on the host, inside the lab's
network namespace, and are stopped by their pidfiles; the tap goes with its
process. Refused in a namespace that has any link but loopback: a tap on the
host's own network is never made.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from swaplab.lab import hostnas

TAP = "swl-dhcp"
ADDRESS = "{net}.2"


class LabDHCPError(Exception):
    pass


def _links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def start(run: Path, net: str, blades: list[tuple[str, str, str]]) -> None:
    """Start the tap and the address-only dnsmasq for ``blades`` (name, mac, address) on ``net`` (a /24 prefix)."""
    others = [link for link in _links() if link not in ("lo", TAP, hostnas.TAP, hostnas.VETH)]
    if others:
        raise LabDHCPError(f"--dhcp lab makes a tap and a DHCP server: run it in a network namespace of the lab's "
                           f"own (`make run` and `make integration` do), not beside {', '.join(others)}")  # fmt: skip
    # Absolute paths: vde_plug2tap -d changes directory when it daemonizes (a relative socket fails silently).
    argv = ["vde_plug2tap", "-s", str(run.resolve() / "vde.ctl"), "-d", "-P", str(run.resolve() / "dhcp-tap.pid"), TAP]
    plug = subprocess.run(argv, capture_output=True, text=True, check=False)
    if plug.returncode != 0:
        raise LabDHCPError(f"vde_plug2tap failed: {plug.stderr.strip()[-300:]}")
    deadline = time.monotonic() + 10
    while TAP not in _links():
        if time.monotonic() > deadline:
            raise LabDHCPError(f"the tap {TAP} did not appear")
        time.sleep(0.1)
    for cmd in (["ip", "addr", "add", f"{ADDRESS.format(net=net)}/24", "dev", TAP], ["ip", "link", "set", TAP, "up"]):
        subprocess.run(cmd, check=True, capture_output=True)
    hosts = [f"--dhcp-host={mac},{addr},{name}" for name, mac, addr in blades]
    r = subprocess.run(
        ["dnsmasq", "--conf-file=/dev/null", "--port=0", f"--interface={TAP}", "--bind-interfaces",
         f"--dhcp-range={net}.100,{net}.150,255.255.255.0,12h", "--dhcp-authoritative", "--log-dhcp",
         "--dhcp-option=option:router", "--dhcp-option=option:dns-server",
         f"--dhcp-leasefile={run.resolve() / 'dhcp.leases'}", f"--pid-file={run.resolve() / 'dhcp.pid'}",
         f"--log-facility={run.resolve() / 'dhcp.log'}", *hosts],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if r.returncode != 0:
        raise LabDHCPError(f"the lab's dnsmasq did not start: {r.stderr.strip()[-300:]}")
