"""The virtual lab's shape: how its blades are powered, who hands out their addresses, what the NAS is.

One dataclass with one default each, shared by the CLI (``run`` and ``lab up`` take the same flags), the
run's options, ``lab up`` and the lab's saved state (``lab.json``), so that the three cannot disagree.
A rack's shape is in its inventory, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# qmp: swaplab drives QEMU directly; ipmi: an ipmi_sim BMC per blade (ipmitool, SOL); redfish: one
# sushy-emulator for the lab. The BMCs' password comes from SWAPLAB_BMC_PASSWORD.
BMCS = ("qmp", "ipmi", "redfish")
# nas: the NAS's dnsmasq hands out addresses; lab: a DHCP server of the lab's own, swaplab's dnsmasq proxy-DHCP.
DHCPS = ("nas", "lab")
# host: a container on the host (native servers, NFS by nfs-ganesha); vm: a QEMU VM (kernel nfsd).
# See swaplab.lab.hostnas for why the host is the default.
NASES = ("host", "vm")
CHOICES: dict[str, tuple[str, ...]] = {"bmc": BMCS, "dhcp": DHCPS, "nas": NASES}
HELP = {
    "bmc": "virtual lab: power the blades through QMP, an ipmi_sim BMC each, or sushy-emulator (the BMC "
    "password comes from SWAPLAB_BMC_PASSWORD)",
    "dhcp": "virtual lab: who hands out addresses: the NAS's dnsmasq, or a DHCP server of the lab's own (a tap "
    "on the lab switch, in the lab's network namespace) with swaplab's as proxy-DHCP",
    "nas": "virtual lab: the NAS as a container on the host (native servers, nfs-ganesha) or a QEMU VM (kernel nfsd)",
}


@dataclass(frozen=True)
class LabShape:
    bmc: str = "qmp"
    dhcp: str = "nas"
    nas: str = "host"

    def problems(self) -> list[str]:
        """Each value outside its choices, named with its flag."""
        return [
            f"--{key} {getattr(self, key)}: choose one of {', '.join(choices)}"
            for key, choices in CHOICES.items()
            if getattr(self, key) not in choices
        ]

    @property
    def nas_kind(self) -> str:
        """The NAS as a release engineer reads it in the lab's messages."""
        return "VM" if self.nas == "vm" else "container (host NAS)"

    @classmethod
    def of(cls, d: dict[str, Any]) -> LabShape:
        """The shape in a saved state or options mapping: its own keys, defaults for the missing."""
        return cls(**{k: str(d[k]) for k in CHOICES if k in d})
