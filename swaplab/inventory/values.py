"""Every inventory value checked before anything acts: ``validate`` is pure, takes what
``ansible-inventory --list`` prints and returns every problem at once, each naming the host, the problem
and the fix (the package's docstring says what is checked)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from swaplab.drivers import POWER, console_problems, is_template, power_problems
from swaplab.rundir import HOST_LABEL_RE
from swaplab.textsafe import shown

MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", re.I)
LABEL_RE = HOST_LABEL_RE
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
PLAIN_PATH_RE = re.compile(r"/[A-Za-z0-9._/+@%,~:=-]*")
WORDS_RE = re.compile(r"[A-Za-z0-9_.,:=/+ -]*")  # kernel command lines, mount and export options
IFACE_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
SYSCTL_KEY_RE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_-]+)+")
SYSCTL_VALUE_RE = re.compile(r"-?[0-9]+( -?[0-9]+)*|[A-Za-z0-9_.-]+")
# ansible-inventory is given this long and this much output: a YAML alias bomb must not hang validation.
ROLE_PREFIXES = ("nfs_server__", "nbd_server__", "pxe_server__", "nfsroot__", "kernel__", "nfs_swap__",
                 "nbd_swap__", "blade_boot__")  # fmt: skip
# Role variables read on the NAS: setting one on the blades only (as lab.example once did with
# pxe_server__mode) silently does nothing.
NAS_ROLE_PREFIXES = ("nfs_server__", "nbd_server__", "pxe_server__", "nfsroot__", "kernel__")
CHOICES = {
    "pxe_server__mode": ("dhcp", "proxy"),
    "pxe_server__boot_protocol": ("http", "tftp"),
    "nfs_swap__version": ("3", "4", "4.1", "4.2"),
    "nfs_server__implementation": ("kernel", "ganesha"),
    "nfs_server__ganesha_root_squash": ("No_Root_Squash", "Root_Squash", "All_Squash"),
    "nfs_server__ganesha_swap_squash": ("No_Root_Squash", "Root_Squash", "All_Squash"),
}


HW_CLASS_RE = re.compile(r"[A-Za-z0-9._-]{1,63}", re.ASCII)


def _group_hosts(inv: dict[str, Any], group: str, seen: frozenset[str] = frozenset()) -> list[str] | None:
    if group not in inv or group in seen or not isinstance(inv[group], dict):
        return None
    hosts = [str(h) for h in inv[group].get("hosts", [])]
    for child in inv[group].get("children", []):
        hosts += _group_hosts(inv, str(child), seen | {group}) or []
    return hosts


# The only inventory values that may be templates (their form is the power driver's to check).
CREDENTIAL_SETTINGS = frozenset({"swaplab_power.user", "swaplab_power.password"})


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a value (keys too), with where it is; vault-encrypted values are opaque."""
    if isinstance(value, dict):
        if "__ansible_vault" in value:
            return
        for k, v in value.items():
            yield f"{where} key", str(k)
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")
    elif isinstance(value, str):
        yield where, value


def has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


def is_ip(text: object) -> bool:
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return True


def _address_key(text: str) -> str:
    """One spelling per address: ``::ffff:127.0.0.1`` is ``127.0.0.1``, ``2001:db8::0:1`` is ``2001:db8::1``."""
    ip = ipaddress.ip_address(text)
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def export_slot(text: str) -> int:
    """The low 15 bits of a blade's address. Its Ganesha exports' ids are 2*slot (root) and 2*slot+1 (swap)
    (``roles/nfs_server``'s template makes the same): ids from positions in the blade list would change
    for every blade after one added, and Ganesha would then serve a connected blade's file handles from
    another blade's export."""
    return int(ipaddress.ip_address(text)) & 0x7FFF


def is_dns_name(text: object) -> bool:
    labels = str(text).rstrip(".").split(".")
    return 0 < len(str(text)) <= 253 and all(LABEL_RE.fullmatch(label) for label in labels)


def _is_int(value: object, lo: int, hi: int) -> bool:
    if isinstance(value, bool):
        return False
    try:
        n = int(str(value))
    except ValueError:
        return False
    return lo <= n <= hi


def _role_var_problem(key: str, value: Any) -> str | None:
    """What is wrong with one role variable set in the inventory (values reach NAS files and shells)."""
    if key in CHOICES:
        return None if str(value) in CHOICES[key] else f"choose one of {', '.join(CHOICES[key])}"
    if isinstance(value, bool):
        return None
    if key.endswith("_wave"):
        return None if _is_int(value, 0, 1000) else "must be a whole number from 0 (no waves) to 1000"
    if key.endswith(("_mib", "_port", "_priority", "_block_size", "_timeout", "_s")):
        return None if _is_int(value, 1, 1 << 20) else "must be a whole number from 1 to 1048576"
    if key.endswith(("_network", "_netmask", "_address")):
        return None if is_ip(value) else "must be an IP address"
    if key.endswith("_range"):
        ok = isinstance(value, list) and len(value) == 2 and all(is_ip(v) for v in value)
        return None if ok else "must be two IP addresses [first, last]"
    if key.endswith("_interface"):
        return None if IFACE_RE.fullmatch(str(value)) else "must be a network interface name"
    if key.endswith("_flags"):
        ok = isinstance(value, list) and all(re.fullmatch(r"-[a-z]+", str(v)) for v in value)
        return None if ok else "must be a list of options like -swap"
    if key.endswith(("_options", "_cmdline")):
        return None if WORDS_RE.fullmatch(str(value)) else "may hold only letters, digits, spaces and _.,:=/+-"
    if key.endswith("_blades"):
        ok = isinstance(value, list) and all(LABEL_RE.fullmatch(str(v)) for v in value)
        return None if ok else "must be a list of blade names"
    if isinstance(value, str):
        if PLAIN_PATH_RE.fullmatch(value) and "/../" not in value + "/" and "/./" not in value + "/":
            return None
        if key.endswith(("_dir", "_root", "_image", "_export", "_mount", "_file", "_device", "_known_hosts")):
            return "must be an absolute path of letters, digits and ._/+- with no . or .. component"
        return None if WORDS_RE.fullmatch(value) else "may hold only letters, digits, spaces and _.,:=/+-"
    if isinstance(value, int | float):
        return None
    return f"is a {type(value).__name__}, which swaplab does not expect here"


def validate(inv: dict[str, Any]) -> list[str]:
    """Every problem with the inventory itself (the kernel under test is ``kernel.under_test``'s to judge)."""
    problems: list[str] = []
    hostvars: dict[str, dict[str, Any]] = inv.get("_meta", {}).get("hostvars", {})
    nas = _group_hosts(inv, "nas")
    blades = _group_hosts(inv, "blades")
    if nas is None:
        problems.append("no `nas` group: add a group `nas` with the NAS host (see inventories/lab.example/)")
    elif len(nas) != 1:
        problems.append(f"the `nas` group has {len(nas)} hosts: it must have exactly one")
    if blades is None:
        problems.append("no `blades` group: add a group `blades` with one host per blade")
    elif not blades:
        problems.append("the `blades` group is empty: add at least one blade")
    for group in inv:
        if group != "_meta" and (has_control(group) or not re.fullmatch(r"[A-Za-z0-9_]+", group)):
            problems.append(f"group {group!r}: a group name is letters, digits and _")
    hosts = sorted({*(nas or []), *(blades or []), *hostvars})
    for host in hosts:
        problems += _validate_host(host, hostvars.get(host, {}), is_blade=host in (blades or []))
    if nas and len(nas) == 1 and LABEL_RE.fullmatch(nas[0]):
        nv = hostvars.get(nas[0], {})
        if not nv.get("swaplab_lab_address"):
            problems.append(f"{nas[0]}: no swaplab_lab_address: set the NAS's address on the blades' network")
        elif not is_ip(nv["swaplab_lab_address"]):
            problems.append(f"{nas[0]}: swaplab_lab_address {nv['swaplab_lab_address']!r} is not an IP address")
        for blade in blades or []:
            for key in sorted(hostvars.get(blade, {})):
                if key.startswith(NAS_ROLE_PREFIXES) and key not in nv:
                    problems.append(f"{blade}: {key} is read on the NAS, not on a blade: set it on {nas[0]} "
                                    "(host_vars or the nas group's vars)")  # fmt: skip
    macs: dict[str, str] = {}
    addrs: dict[str, str] = {}
    slots: dict[int, str] = {}
    for blade in blades or []:
        hv = hostvars.get(blade, {})
        mac = str(hv.get("swaplab_mac", "")).lower()
        if not mac:
            problems.append(f"{blade}: no swaplab_mac: set the MAC address of the blade's PXE NIC")
        elif not MAC_RE.fullmatch(mac):
            problems.append(f"{blade}: swaplab_mac {mac!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
        elif mac in macs:
            problems.append(f"{blade}: swaplab_mac {mac} is also {macs[mac]}'s: each blade needs its own MAC")
        else:
            macs[mac] = blade
        addr = str(hv.get("ansible_host", ""))
        if not addr:
            problems.append(f"{blade}: no ansible_host: set the blade's address on the lab network")
        elif not is_ip(addr):
            problems.append(f"{blade}: ansible_host {addr!r} is not an IP address: a blade's address goes into "
                            "the NAS's exports and DHCP, so it must be one (e.g. 192.0.2.101)")  # fmt: skip
        elif (key := _address_key(addr)) in addrs:
            problems.append(f"{blade}: address {addr} is also {addrs[key]}'s: each blade needs its own address")
        else:
            addrs[key] = blade
            slot = export_slot(addr)
            if slot == 0:
                problems.append(f"{blade}: address {addr} ends in 15 zero bits (a network's own address?): "
                                "give the blade a host address")  # fmt: skip
            elif slot in slots:
                problems.append(f"{blade}: address {addr} has the same low 15 bits as {slots[slot]}'s, and the "
                                "NAS's export ids are made from them: keep a rack's blades within a /17")  # fmt: skip
            else:
                slots[slot] = blade
        problems += [f"{blade}: {p}" for p in power_problems(hv.get("swaplab_power"))]
        problems += [f"{blade}: {p}" for p in console_problems(hv.get("swaplab_console"), hv.get("swaplab_power"))]
    return problems


def _validate_host(host: str, hv: dict[str, Any], is_blade: bool) -> list[str]:
    """Problems with one host's name and the values swaplab renders into files or command lines."""
    out: list[str] = []
    if not LABEL_RE.fullmatch(host):
        return [f"host {shown(repr(host), 80)}: a host name is a DNS label (ASCII letters, digits, inner hyphens; "
                "at most 63): rename it in the inventory"]  # fmt: skip
    if is_blade and host.lower() == "run":
        return [f"blade {host}: 'run' names the run as a whole in swaplab's reports: rename the blade"]
    for where, text in _strings(hv, "vars"):
        if has_control(text):
            out.append(f"{host}: {where.removeprefix('vars.')} holds a control character (newline, tab, escape): "
                       "remove it")  # fmt: skip
    if out:
        return out  # nothing else is read from a host whose values may be an injection
    addr = hv.get("ansible_host")
    if addr is not None and not is_blade and not (is_ip(addr) or is_dns_name(addr)):
        out.append(f"{host}: ansible_host {addr!r} is neither an IP address nor a DNS name")
    if "ansible_port" in hv and not _is_int(hv["ansible_port"], 1, 65535):
        out.append(f"{host}: ansible_port {hv['ansible_port']!r} is not a port number (1-65535)")
    if "ansible_user" in hv and not USER_RE.fullmatch(str(hv["ansible_user"])):
        out.append(f"{host}: ansible_user {hv['ansible_user']!r} is not a user name")
    for key in ("ansible_ssh_private_key_file", "swaplab_known_hosts"):
        if key in hv and not PLAIN_PATH_RE.fullmatch(str(hv[key])):
            out.append(f"{host}: {key} {hv[key]!r} must be an absolute path of letters, digits and ._/+-")
    if "swaplab_hw_class" in hv and not (isinstance(hv["swaplab_hw_class"], str)
                                         and HW_CLASS_RE.fullmatch(hv["swaplab_hw_class"])):  # fmt: skip
        out.append(f"{host}: swaplab_hw_class {shown(repr(hv['swaplab_hw_class']), 80)} is not a hardware class "
                   "(letters, digits, '.', '_', '-'; at most 63)")  # fmt: skip
    if "swaplab_memory_mib" in hv and not _is_int(hv["swaplab_memory_mib"], 64, 1 << 24):
        out.append(f"{host}: swaplab_memory_mib {hv['swaplab_memory_mib']!r} is not a size in MiB (64 or more)")
    extra = hv.get("swaplab_kernel_cmdline_extra")
    if extra is not None and not WORDS_RE.fullmatch(str(extra)):
        out.append(f"{host}: swaplab_kernel_cmdline_extra {extra!r} may hold only letters, digits, spaces and "
                   "_.,:=/+- (it goes into the iPXE script)")  # fmt: skip
    sysctls = hv.get("swaplab_blade_sysctls")
    if sysctls is not None:
        if not isinstance(sysctls, dict):
            out.append(f"{host}: swaplab_blade_sysctls must be a mapping of sysctl names to values")
        else:
            for k, v in sysctls.items():
                if not SYSCTL_KEY_RE.fullmatch(str(k)) or not SYSCTL_VALUE_RE.fullmatch(str(v)):
                    out.append(f"{host}: swaplab_blade_sysctls {k!r}: {v!r} is not a sysctl name and value")
    templated = set()
    for where, text in _strings(hv, "vars"):
        name = where.removeprefix("vars.")
        if is_template(text) and name not in CREDENTIAL_SETTINGS:  # those: the power driver checks their form
            templated.add(name.split(".")[0].split("[")[0])
            what = "a key of its vars" if where == "vars key" else name
            out.append(f"{host}: {what} is a template ({{{{, {{% or {{#): swaplab takes templates only in "
                       "swaplab_power's user and password (a Vault variable or an environment lookup); write the "
                       "value out")  # fmt: skip
    for key in sorted(hv):
        if key not in templated and key.startswith(ROLE_PREFIXES) and (why := _role_var_problem(key, hv[key])):
            out.append(f"{host}: {key} {hv[key]!r} {why}")
    return out


def warnings(inv: dict[str, Any]) -> list[str]:
    """What is allowed but unwise: a BMC password in clear text in the inventory."""
    out = []
    hostvars: dict[str, dict[str, Any]] = inv.get("_meta", {}).get("hostvars", {})
    for host in sorted(hostvars):
        power = hostvars[host].get("swaplab_power")
        if isinstance(power, dict) and power.get("driver") in POWER:
            pw = power.get("password")
            if isinstance(pw, str) and pw and not is_template(pw):
                fix = "take it from Ansible Vault (!vault) or the environment (lookup('ansible.builtin.env', ...))"
                out.append(f"{host}: swaplab_power's password is in clear text in the inventory: {fix}")
    return out
