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


class CredentialsError(Exception):
    pass


def resolve_power(inventory: str, host: str, timeout_s: float = 60) -> dict[str, Any]:
    """Resolved in a fresh interpreter (Ansible's vault context is one per process), read from a pipe."""
    argv = [sys.executable, "-m", "swaplab.credentials", inventory, host]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"{host}: resolving its power settings took over {timeout_s:.0f} s") from None
    if r.returncode != 0:
        raise CredentialsError(
            r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"{host}: exit {r.returncode}"
        )
    settings: dict[str, Any] = json.loads(r.stdout)
    return settings


def _resolve_here(inventory: str, host: str) -> dict[str, Any]:
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
    try:
        secrets = CLI.setup_vault_secrets(
            loader, vault_ids=C.DEFAULT_VAULT_IDENTITY_LIST,
            vault_password_files=list(C.DEFAULT_VAULT_PASSWORD_FILE or []), ask_vault_pass=False, auto_prompt=False,
        )  # fmt: skip
        loader.set_vault_secrets(secrets)
        inv = InventoryManager(loader=loader, sources=[inventory])
        h = inv.get_host(host)
        if h is None:
            raise CredentialsError(f"{host}: not in {inventory}")
        hostvars = VariableManager(loader=loader, inventory=inv).get_vars(host=h)
        resolved = Templar(loader=loader, variables=hostvars).template(hostvars.get("swaplab_power") or {})
    except AnsibleError as e:
        raise CredentialsError(f"{host}: its power settings cannot be resolved: {str(e).splitlines()[0]}") from None
    return dict(resolved)


def main(argv: list[str]) -> int:
    try:
        settings = _resolve_here(argv[0], argv[1])
    except CredentialsError as e:
        print(e, file=sys.stderr)
        return 2
    json.dump(settings, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
