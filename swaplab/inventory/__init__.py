"""The inventory is the single source of truth for machines: load it (bounded), validate it in full.

``validate`` is pure: it takes what ``ansible-inventory --list`` prints and
returns every problem at once, each naming the host, the problem and the fix.

Every value that reaches a file or a shell on the controller or the NAS is
checked here, not where it is used: host names are DNS labels, addresses are
IP addresses (parsed by ``ipaddress``), paths are absolute and plain, no value
anywhere holds a control character, and every pattern is matched whole.
Templates (any ``{{``, ``{%`` or ``{#``, anywhere, connection variables too) are
accepted only in ``swaplab_power``'s user and password, and there only in the
documented forms (a Vault variable, an environment lookup: ``drivers.CREDENTIAL_FORMS``);
they are resolved and checked by the preflight play before anything acts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swaplab import errors
from swaplab.textsafe import visible

from .values import HW_CLASS_RE, _group_hosts, validate, warnings

__all__ = ["STATIC_INVENTORY_ENV", "Inventory", "InventoryError", "load", "load_and_validate", "validate", "warnings"]

LOAD_TIMEOUT_S = 60
LOAD_MAX_BYTES = 32 << 20
LOAD_MAX_MEMORY = 2 << 30


class InventoryError(errors.BadInput):
    pass


@dataclass(frozen=True)
class Inventory:
    """A validated inventory: what the run passes down instead of the raw dict."""

    path: str
    raw: dict[str, Any]
    nas: str
    blades: tuple[str, ...]
    hostvars: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, path: str, raw: dict[str, Any]) -> Inventory:
        """The typed view of an inventory ``validate`` found no problem in."""
        nas = (_group_hosts(raw, "nas") or [""])[0]
        hostvars = raw.get("_meta", {}).get("hostvars", {})
        return cls(path, raw, nas, tuple(_group_hosts(raw, "blades") or []), hostvars)

    @property
    def nas_managed(self) -> bool:
        return bool(self.hostvars.get(self.nas, {}).get("swaplab_nas_managed", True))

    @property
    def nas_address(self) -> str:
        return str(self.hostvars.get(self.nas, {}).get("swaplab_lab_address", "?"))

    def nas_var(self, name: str, default: str) -> str:
        """A role variable the NAS's host vars set (validated: a ``_dir`` is a plain absolute path), else the
        role's default."""
        value = self.hostvars.get(self.nas, {}).get(name)
        return value if isinstance(value, str) and value else default

    def power(self, host: str) -> dict[str, Any]:
        """The host's ``swaplab_power`` as written (credentials still templates: ``credentials`` resolves them)."""
        return dict(self.hostvars.get(host, {}).get("swaplab_power") or {})

    def console(self, host: str) -> dict[str, Any]:
        """The host's ``swaplab_console`` (empty: none)."""
        return dict(self.hostvars.get(host, {}).get("swaplab_console") or {})

    def hw_class(self, host: str) -> str:
        """The blade's hardware class, for the history: ``swaplab_hw_class``, else the first of its own groups
        (by name; not ``blades``), else ``blades``."""
        given = self.hostvars.get(host, {}).get("swaplab_hw_class")
        if isinstance(given, str) and HW_CLASS_RE.fullmatch(given):
            return given
        for group in sorted(k for k in self.raw if k not in ("_meta", "all", "ungrouped", "blades", "nas")):
            if host in (_group_hosts(self.raw, group) or []) and HW_CLASS_RE.fullmatch(group):
                return group
        return "blades"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LOAD_MAX_MEMORY, LOAD_MAX_MEMORY))


def _safe_error(stderr: str) -> str:
    """ansible-inventory's error without the source text it quotes (a line, a token after a split: either
    may be a password): the source lines it shows are dropped, and quoted text and what follows
    ``got:`` are replaced by ``…``."""
    kept: list[str] = []
    for line in stderr.splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith(("The offending line appears to be", "^ here", "<<< caused by >>>")):
            break
        text = re.sub(r"\bgot:.*", "got: …", text)
        text = re.sub(r"'[^']*'?|\"[^\"]*\"?", "'…'", text)
        if text not in kept:
            kept.append(visible(text, one_line=True))
    where = re.search(r"line (\d+), column (\d+)", stderr)
    msg = " ".join(kept)[:500]
    return msg + (f" (line {where.group(1)}, column {where.group(2)})" if where and "line " not in msg else "")


# Every inventory is read by the static plugins alone: an executable source (Ansible's script plugin) or a
# plugin configuration (auto) would run code that a run directory or an inventory value chose. ansible.cfg
# says the same; the environment wins over an ANSIBLE_CONFIG the user points elsewhere.
STATIC_INVENTORY_ENV = {
    "ANSIBLE_INVENTORY_ENABLED": "ansible.builtin.yaml,ansible.builtin.ini",
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
}


def executable_sources(path: str) -> list[str]:
    """The executable files an inventory source would have Ansible run: the file itself, or those in the
    directory (not below: group_vars and host_vars hold variables, never sources)."""
    p = Path(path)
    try:
        entries = sorted(p.iterdir()) if p.is_dir() else [p]
    except OSError:
        return []
    return [str(e) for e in entries[:10_000]
            if e.is_file() and os.stat(e).st_mode & 0o111]  # fmt: skip


def load(path: str, ansible_inventory: str = str(Path(sys.executable).parent / "ansible-inventory")) -> dict[str, Any]:
    """What ``ansible-inventory -i PATH --list`` sees (vault values stay encrypted), bounded in time,
    output and memory."""
    if not os.path.exists(path):
        raise InventoryError([f"inventory {visible(path, one_line=True)}: no such file or directory"])
    if found := executable_sources(path):
        raise InventoryError([f"inventory {visible(path, one_line=True)}: {visible(found[0], one_line=True)} is "
                              "executable (a script inventory): swaplab loads only static YAML or INI inventories, "
                              "and never runs one; write its output to a file (ansible-inventory -i SCRIPT --list -y "
                              "> hosts.yml) and clear the executable bit (chmod a-x)"])  # fmt: skip
    env = dict(os.environ, **STATIC_INVENTORY_ENV)
    proc = subprocess.Popen(
        [ansible_inventory, "-i", path, "--list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, env=env, start_new_session=True, preexec_fn=_limit_memory,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=LOAD_TIMEOUT_S)
    except BaseException as e:  # a time-out, or a signal (SIGTERM, ^C) while it reads: it goes with us
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if not isinstance(e, subprocess.TimeoutExpired):
            raise
        why = "a YAML alias bomb, or a dynamic inventory that hangs?"
        raise InventoryError([f"inventory {path}: ansible-inventory did not finish within {LOAD_TIMEOUT_S} s ({why}): "
                              "fix the inventory"]) from None  # fmt: skip
    if proc.returncode != 0:
        raise InventoryError([f"inventory {path} cannot be parsed: {_safe_error(err.decode(errors='replace'))}"])
    if len(out) > LOAD_MAX_BYTES:
        raise InventoryError([f"inventory {path}: {len(out)} bytes once parsed, over {LOAD_MAX_BYTES}: "
                              "is it made of YAML aliases? Write it out plainly"])  # fmt: skip
    try:
        data = json.loads(out)
    except ValueError as e:
        raise InventoryError([f"inventory {path}: ansible-inventory printed no JSON ({e})"]) from None
    if not isinstance(data, dict):
        raise InventoryError([f"inventory {path}: ansible-inventory printed no mapping"])
    return data


def load_and_validate(path: str) -> Inventory:
    """Load and validate the inventory at ``path``, once per run; InventoryError lists every problem."""
    inv = load(path)
    problems = validate(inv)
    if problems:
        raise InventoryError(problems)
    return Inventory.of(path, inv)
