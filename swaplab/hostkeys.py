"""Host keys: every machine swaplab connects to must already be known, and is checked on every connection.

ssh itself decides which known_hosts files and which name a host's key is
filed under (``UserKnownHostsFile``, ``GlobalKnownHostsFile``, ``HostKeyAlias``,
the port): ``ssh -G`` prints that resolved configuration without connecting, and
``ssh-keygen -F`` looks the name up (hashed entries included). A host with no
recorded key is refused before anything starts, with the command that records it.

The options in ``STRICT`` are put *first* on every ssh command line swaplab or
Ansible runs: ssh keeps the first value it reads for an option, so nothing later
(an inventory's ``ansible_ssh_common_args``, ansible-runner's
``ANSIBLE_HOST_KEY_CHECKING=False``) can turn checking off.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

STRICT = ("StrictHostKeyChecking=yes", "UpdateHostKeys=no", "CheckHostIP=no")


@dataclass(frozen=True)
class Target:
    """How Ansible reaches one inventory host."""

    name: str
    address: str
    port: int
    ssh_args: tuple[str, ...]  # the inventory's extra ssh arguments, as words


def target(name: str, hostvars: dict[str, object]) -> Target:
    args = " ".join(str(hostvars.get(k) or "") for k in ("ansible_ssh_common_args", "ansible_ssh_extra_args"))
    port = hostvars.get("ansible_port") or 22
    return Target(name, str(hostvars.get("ansible_host") or name), int(str(port)), tuple(shlex.split(args)))


def option_values(words: Sequence[str]) -> list[str]:
    """The ``KEY=VALUE`` of every ``-o`` option of an ssh command line, in order."""
    out: list[str] = []
    for i, w in enumerate(words):
        if w == "-o" and i + 1 < len(words):
            out.append(words[i + 1])
        elif w.startswith("-o") and len(w) > 2:
            out.append(w[2:])
    return out


def _options(words: Sequence[str]) -> list[str]:
    """The ``-o`` options as ``-o KEY=VALUE`` words, without a proxy (``ssh -G`` connects to nothing)."""
    keep = [v for v in option_values(words) if not v.lower().startswith(("proxycommand", "proxyjump"))]
    return [w for v in keep for w in ("-o", v)]


def resolved(t: Target) -> dict[str, str]:
    """ssh's own configuration for ``t``: lower-case keys, as ``ssh -G`` prints them."""
    argv = ["ssh", "-G", *_options(t.ssh_args), "-p", str(t.port), "--", t.address]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    conf: dict[str, str] = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(" ")
        conf.setdefault(key, value)
    return conf


def lookup_name(conf: dict[str, str]) -> str:
    host = conf.get("hostkeyalias") or conf.get("hostname", "")
    port = conf.get("port", "22")
    return host if port == "22" or conf.get("hostkeyalias") else f"[{host}]:{port}"


def known(name: str, files: Sequence[str]) -> bool:
    for f in files:
        r = subprocess.run(["ssh-keygen", "-F", name, "-f", f], capture_output=True, timeout=10, check=False)
        if r.returncode == 0 and r.stdout.strip():
            return True
    return False


def problems(targets: Sequence[Target]) -> list[str]:
    """One message per host whose key is not recorded, naming the file and how to record it."""
    out: list[str] = []
    for t in targets:
        conf = resolved(t)
        files = [f for k in ("userknownhostsfile", "globalknownhostsfile") for f in shlex.split(conf.get(k, ""))]
        name = lookup_name(conf)
        if not known(name, files):
            user_file = (shlex.split(conf.get("userknownhostsfile", "")) or ["~/.ssh/known_hosts"])[0]
            out.append(
                f"{t.name}: no host key for {name} in {' or '.join(files) or 'any known_hosts file'}: swaplab "
                f"connects only to hosts whose key is recorded. Check the host's fingerprint on its console "
                f"(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then record it: "
                f"ssh-keyscan -p {conf.get('port', t.port)} {conf.get('hostname', t.address)} >> {user_file}"
            )
    return out


def inventory_problems(inv: dict[str, object], nas: str, blades: Sequence[str], blades_too: bool) -> list[str]:
    """Host-key problems for the machines Ansible will reach first: the NAS, and the blades when their
    keys are not recorded by provisioning (an unmanaged NAS's roots, or a run without provisioning)."""
    meta = inv.get("_meta")
    hostvars: dict[str, dict[str, object]] = meta.get("hostvars", {}) if isinstance(meta, dict) else {}
    names = [nas, *(blades if blades_too else [])]
    return problems([target(n, hostvars.get(n, {})) for n in names])
