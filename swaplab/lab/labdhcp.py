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
from pathlib import Path

from swaplab import errors
from swaplab.lab import hostnas, taps

TAP = "swl-dhcp"
ADDRESS = "{net}.2"


class LabDHCPError(errors.Infrastructure):
    pass


def start(run: Path, net: str, blades: list[tuple[str, str, str]]) -> None:
    """Start the tap and the address-only dnsmasq for ``blades`` (name, mac, address) on ``net`` (a /24 prefix)."""
    others = taps.foreign((TAP, hostnas.TAP, hostnas.VETH))
    if others:
        raise LabDHCPError(f"--dhcp lab makes a tap and a DHCP server: run it in a network namespace of the lab's "
                           f"own (`make run` and `make integration` do), not beside {', '.join(others)}")  # fmt: skip
    try:
        taps.plug(run / "vde.ctl", run / "dhcp-tap.pid", TAP)
    except taps.TapError as e:
        raise LabDHCPError(str(e)) from e
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
