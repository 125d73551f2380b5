"""The virtual lab's inventory, written by `lab up`: the same groups and variables a physical lab's has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swaplab.inventory.writer import Host, RackInventory
from swaplab.lab import bmc as vbmc
from swaplab.lab import hostnas
from swaplab.lab.images import LAB_NET
from swaplab.lab.state import Blade, LabState

# Under TCG on a busy host a vCPU can be descheduled for seconds while the guest's clock runs on:
# the kernel then reports RCU stalls and soft lockups that are the emulator's, not its own.
# Virtual blades get longer thresholds (RCU 60 s instead of 21 s, soft lockup 60 s instead of 20 s);
# a physical lab keeps the kernel's defaults, and a real stall still shows.
TCG_CMDLINE = "rcupdate.rcu_cpu_stall_timeout=60 watchdog_thresh=30"
# The kernel's defaults for a 139 MiB blade are a 1.3 MiB reserve and a 0.1% watermark gap.
# hung_task_timeout_secs goes back to the kernel's 120 (the suites' ceiling; the hang budget is 150)
# from the roles' 30: with the emulated NAS and blade on two host cores, a task on the blade waits 30 s
# on its NFS root with no NAS outage (CI on 071bb91: systemd-journal blocked 33 s in a hog over the VM
# NAS's nfsd). A physical lab keeps 30 s.
TCG_BLADE_SYSCTLS = {
    "vm.min_free_kbytes": 8192,
    "vm.watermark_scale_factor": 100,
    "kernel.hung_task_timeout_secs": 120,
}


def write_inventory(state: LabState, path: Path) -> None:
    """The virtual lab's inventory: same groups and variables a physical lab's has."""
    ssh_base = (
        f"-o UserKnownHostsFile={state.known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
        "-o ConnectTimeout=20"
    )
    proxy = f"ssh -i {state.key} {ssh_base} -p {state.nas_port} -W %h:%p root@{state.nas_host}"
    nas: dict[str, Any] = {"ansible_host": state.nas_host, "ansible_port": state.nas_port,
                           "swaplab_lab_address": state.nas_address, "swaplab_nas_managed": True}  # fmt: skip
    notes = [
        "The virtual lab: see inventories/lab.example/ for a real lab.",
        "Small TCG blades: a larger free-memory reserve (PF_MEMALLOC pool) and earlier kswapd, so that pageout",
        "over the network is not starved (measured: hog 2x RAM on NFS 268 s -> 198 s); hung tasks reported after",
        "the kernel's 120 s, not 30 s: an emulated blade waits 30 s on an emulated NAS.",
    ]
    if state.shape.nas == "host":
        notes.append("The host NAS (a container on the host's kernel, which has no nfsd): NFS by nfs-ganesha.")
        nas |= {"nfs_server__implementation": "ganesha", "pxe_server__interface": hostnas.TAP}
    if state.shape.dhcp == "lab":
        notes.append("The lab has its own DHCP server (lab up --dhcp lab): swaplab's dnsmasq is proxy-DHCP.")
        nas |= {"pxe_server__mode": "proxy", "pxe_server__network": f"{LAB_NET}.0"}
    RackInventory(
        generated_by="`swaplab lab up`",
        all_vars={"ansible_user": "root", "ansible_ssh_private_key_file": state.key,
                  "ansible_ssh_common_args": ssh_base, "swaplab_known_hosts": state.known_hosts,
                  "swaplab_lab": "virtual", "swaplab_blade_sysctls": dict(TCG_BLADE_SYSCTLS)},
        nas=Host("nas", nas),
        blade_vars={"ansible_ssh_common_args": f'{ssh_base} -o ProxyCommand="{proxy}"',
                    "swaplab_kernel_cmdline_extra": TCG_CMDLINE},
        blades=[Host(b.name, {"ansible_host": b.address, "swaplab_mac": b.mac, "swaplab_memory_mib": b.memory_mib,
                              "swaplab_power": _power(state, b), "swaplab_console": _console(state, b)})
                for b in state.blades],
        notes=tuple(notes),
    ).write(path)  # fmt: skip


def _console(state: LabState, b: Blade) -> dict[str, Any]:
    """Behind an IPMI BMC the console is its Serial-over-LAN, as on a rack; otherwise QEMU's log."""
    return {"driver": "ipmi-sol"} if state.shape.bmc == "ipmi" else {"driver": "file", "path": b.console_log}


def _power(state: LabState, b: Blade) -> dict[str, Any]:
    """A blade's power settings: QMP, or its BMC exactly as a rack's would read."""
    password = f"{{{{ lookup('ansible.builtin.env', '{vbmc.PASSWORD_ENV}') }}}}"
    if state.shape.bmc == "ipmi":
        return {"driver": "ipmi", "host": "127.0.0.1", "port": b.bmc_port, "cipher_suite": vbmc.IPMI_SIM_CIPHER_SUITE,
                "user": vbmc.BMC_USER, "password": password}  # fmt: skip
    if state.shape.bmc == "redfish":
        return {"driver": "redfish", "url": state.redfish_url, "verify": state.redfish_ca, "system": b.name,
                "user": vbmc.BMC_USER, "password": password}  # fmt: skip
    return {"driver": "qmp", "socket": b.qmp}
