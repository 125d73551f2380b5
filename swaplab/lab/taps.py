"""Taps on the lab's vde switch (``vde_plug2tap``), for the processes of the lab that run on the host:
the lab's own DHCP server (``labdhcp``) and the host NAS (``hostnas``). Made only in a network
namespace of the lab's own: ``foreign`` names any other link there, and callers refuse to go on."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from swaplab import errors


class TapError(errors.Infrastructure):
    pass


def links() -> list[str]:
    """The network links of this namespace, by name."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def foreign(ours: tuple[str, ...]) -> list[str]:
    """The links here that are neither loopback nor the lab's (``ours``)."""
    return [link for link in links() if link not in ("lo", *ours)]


def wait_link(name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while name not in links():
        if time.monotonic() > deadline:
            raise TapError(f"the link {name} did not appear within {timeout:.0f} s")
        time.sleep(0.1)


def plug(vde_ctl: Path, pidfile: Path, name: str) -> None:
    """A tap ``name`` joined to the switch at ``vde_ctl``, its plug's PID in ``pidfile``; returns once it exists."""
    # Absolute paths: vde_plug2tap -d changes directory when it daemonizes (a relative socket fails silently).
    argv = ["vde_plug2tap", "-s", str(vde_ctl.resolve()), "-d", "-P", str(pidfile.resolve()), name]
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise TapError(f"vde_plug2tap failed: {r.stderr.strip()[-300:]}")
    wait_link(name, 10)
