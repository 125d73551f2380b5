"""A host's power settings as Ansible resolves them: Vault values decrypted, lookups done.

The playbooks resolve credentials themselves; this is for what swaplab does in
its own process with a BMC (the SOL console recorder). The inventory is read
with Ansible's own loader and templar, so the same inventory means the same
thing to both; vault secrets come from Ansible's configuration
(``ANSIBLE_VAULT_PASSWORD_FILE``, ``vault_identity_list``). Nothing resolved is
logged or written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from swaplab import errors


class CredentialsError(errors.BadInput):
    pass


def resolve_power(inventory: str, host: str, timeout_s: float = 60) -> dict[str, Any]:
    """One host's power settings (``resolve_powers`` for many: one interpreter for all of them)."""
    return resolve_powers(inventory, [host], timeout_s)[host]


def resolve_powers(inventory: str, hosts: list[str], timeout_s: float = 60) -> dict[str, dict[str, Any]]:
    """Every host's power settings, resolved in one fresh interpreter (Ansible's vault context is one per
    process): the inventory and the vault are read once, whatever the number of blades. Read from a pipe."""
    argv = [sys.executable, "-m", "swaplab.credentials", inventory, *hosts]
    limit = timeout_s + 0.2 * len(hosts)
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise CredentialsError(
            f"resolving the power settings of {len(hosts)} host(s) took over {limit:.0f} s"
        ) from None
    if r.returncode != 0:
        raise CredentialsError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}")
    settings: dict[str, dict[str, Any]] = json.loads(r.stdout)
    return settings


def _resolve_here(inventory: str, hosts: list[str]) -> dict[str, dict[str, Any]]:
    from ansible import constants as C
    from ansible.cli import CLI
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    loader = DataLoader()
    out: dict[str, dict[str, Any]] = {}
    host = "?"
    try:
        secrets = CLI.setup_vault_secrets(
            loader, vault_ids=C.DEFAULT_VAULT_IDENTITY_LIST,
            vault_password_files=list(C.DEFAULT_VAULT_PASSWORD_FILE or []), ask_vault_pass=False, auto_prompt=False,
        )  # fmt: skip
        loader.set_vault_secrets(secrets)
        inv = InventoryManager(loader=loader, sources=[inventory])
        variables = VariableManager(loader=loader, inventory=inv)
        for host in hosts:
            h = inv.get_host(host)
            if h is None:
                raise CredentialsError(f"{host}: not in {inventory}")
            hostvars = variables.get_vars(host=h)
            out[host] = dict(Templar(loader=loader, variables=hostvars).template(hostvars.get("swaplab_power") or {}))
    except AnsibleError as e:
        raise CredentialsError(f"{host}: its power settings cannot be resolved: {str(e).splitlines()[0]}") from None
    return out


def main(argv: list[str]) -> int:
    try:
        settings = _resolve_here(argv[0], argv[1:])
    except CredentialsError as e:
        print(e, file=sys.stderr)
        return 2
    json.dump(settings, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
