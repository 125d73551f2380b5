"""The inventory is the single source of truth for machines: load it, validate it in full.

``validate`` is pure: it takes what ``ansible-inventory --list`` prints and
returns every problem at once, each naming the host, the problem and the fix.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.I)
POWER_SETTINGS: dict[str, tuple[str, ...]] = {
    "qmp": ("socket",),
    "ipmi": ("host", "user", "password"),
    "redfish": ("url", "user", "password"),
}


class InventoryError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load(path: str, ansible_inventory: str = str(Path(sys.executable).parent / "ansible-inventory")) -> dict[str, Any]:
    """What ``ansible-inventory -i PATH --list`` sees (vault values stay encrypted)."""
    if not os.path.exists(path):
        raise InventoryError([f"inventory {path}: no such file or directory"])
    env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")
    r = subprocess.run([ansible_inventory, "-i", path, "--list"], capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        msg = " ".join(line.strip() for line in r.stderr.splitlines() if line.strip())[:600]
        raise InventoryError([f"inventory {path} cannot be parsed: {msg}"])
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def _group_hosts(inv: dict[str, Any], group: str) -> list[str] | None:
    if group not in inv:
        return None
    hosts = list(inv[group].get("hosts", []))
    for child in inv[group].get("children", []):
        hosts += _group_hosts(inv, child) or []
    return hosts


def validate(inv: dict[str, Any], kernel: str | None = None) -> list[str]:
    problems: list[str] = []
    hostvars: dict[str, dict[str, Any]] = inv.get("_meta", {}).get("hostvars", {})
    nas = _group_hosts(inv, "nas")
    blades = _group_hosts(inv, "blades")
    if nas is None:
        problems.append("no `nas` group: add a group `nas` with the NAS host (see inventories/lab.example/)")
    elif len(nas) != 1:
        problems.append(f"the `nas` group has {len(nas)} hosts: it must have exactly one")
    else:
        nv = hostvars.get(nas[0], {})
        if not nv.get("swaplab_lab_address"):
            problems.append(f"{nas[0]}: no swaplab_lab_address: set the NAS's address on the blades' network")
    if blades is None:
        problems.append("no `blades` group: add a group `blades` with one host per blade")
    elif not blades:
        problems.append("the `blades` group is empty: add at least one blade")
    macs: dict[str, str] = {}
    addrs: dict[str, str] = {}
    for blade in blades or []:
        hv = hostvars.get(blade, {})
        mac = str(hv.get("swaplab_mac", "")).lower()
        if not mac:
            problems.append(f"{blade}: no swaplab_mac: set the MAC address of the blade's PXE NIC")
        elif not MAC_RE.match(mac):
            problems.append(f"{blade}: swaplab_mac {mac!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
        elif mac in macs:
            problems.append(f"{blade}: swaplab_mac {mac} is also {macs[mac]}'s: each blade needs its own MAC")
        else:
            macs[mac] = blade
        addr = str(hv.get("ansible_host", ""))
        if not addr:
            problems.append(f"{blade}: no ansible_host: set the blade's address on the lab network")
        elif addr in addrs:
            problems.append(f"{blade}: address {addr} is also {addrs[addr]}'s: each blade needs its own address")
        else:
            addrs[addr] = blade
        problems += _validate_power(blade, hv.get("swaplab_power"))
    if kernel is not None and not os.path.exists(kernel):
        problems.append(f"kernel {kernel}: no such file or directory: pass a kernel .deb, bzImage or tree")
    return problems


def _validate_power(host: str, power: Any) -> list[str]:
    if power is None:
        return [f"{host}: no swaplab_power: set {{driver: qmp|ipmi|redfish, ...}} so swaplab can power-cycle it"]
    if not isinstance(power, dict):
        return [f"{host}: swaplab_power must be a mapping with a driver, not {type(power).__name__}"]
    driver = power.get("driver")
    if driver not in POWER_SETTINGS:
        return [f"{host}: swaplab_power driver {driver!r} is unknown: use one of {', '.join(POWER_SETTINGS)}"]
    missing = [k for k in POWER_SETTINGS[driver] if not power.get(k)]
    if missing:
        return [
            f"{host}: swaplab_power driver {driver} lacks {', '.join(missing)}"
            + (" (take passwords from Ansible Vault or the environment)" if "password" in missing else "")
        ]
    return []


def load_and_validate(path: str, kernel: str | None = None) -> dict[str, Any]:
    inv = load(path)
    problems = validate(inv, kernel)
    if problems:
        raise InventoryError(problems)
    return inv
