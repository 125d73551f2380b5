"""What `lab up` leaves for the commands after it: the lab's state (``lab.json``) and each blade's."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from swaplab.labshape import LabShape


@dataclass
class Blade:
    name: str
    mac: str
    address: str
    memory_mib: int
    qmp: str
    console_log: str
    console_sock: str
    pidfile: str
    bmc_port: int = 0  # --bmc ipmi: the blade's ipmi_sim on 127.0.0.1 (UDP)
    sol_port: int = 0  # --bmc ipmi: the blade's serial port as a TCP server, for the BMC's SOL


@dataclass
class LabState:
    run: str
    nas_port: int
    nas_address: str
    key: str
    known_hosts: str
    blades: list[Blade] = field(default_factory=list)
    shape: LabShape = field(default_factory=LabShape)  # its BMCs, DHCP and NAS (swaplab.labshape)
    redfish_url: str = ""  # --bmc redfish: the lab's sushy-emulator, https with the lab's CA
    redfish_ca: str = ""
    nas_host: str = "127.0.0.1"  # where its sshd is reached: the VM's forwarded port, the container's veth

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> LabState:
        d = json.loads(path.read_text())
        d["blades"] = [Blade(**b) for b in d["blades"]]
        d["shape"] = LabShape.of(d.get("shape") or {k: d.pop(k) for k in ("bmc", "dhcp", "nas") if k in d})
        return cls(**d)
