"""Virtual-lab integration tests: they start real QEMU VMs and must run in a loopback-only
network namespace (`make integration` does: unshare --net), so that no mistake can send a
packet anywhere but 127.0.0.1."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The virtual BMCs' password for this test session, in the environment only (as Jenkins would hand it
# over): every swaplab the tests start inherits it, and no file of a run may hold it.
BMC_PASSWORD = os.environ.setdefault("SWAPLAB_BMC_PASSWORD", "it-" + secrets.token_hex(8))  # IPMI: <= 20 bytes


@pytest.fixture(scope="session", autouse=True)
def loopback_only_namespace() -> None:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = [line.split(":")[1].strip() for line in links.splitlines()]
    if names != ["lo"] and not os.environ.get("SWAPLAB_ALLOW_HOST_NETWORK"):
        pytest.fail(f"integration tests need a loopback-only network namespace (found {names}): run `make integration`")


def swaplab(*args: str, timeout: float = 1800, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the swaplab CLI as a user would; its output is echoed for the log."""
    r = subprocess.run([str(BIN / "swaplab"), *args], capture_output=True, text=True, timeout=timeout, check=False,
                       env=None if env is None else dict(os.environ, **env))  # fmt: skip
    sys.stdout.write(f"$ swaplab {' '.join(args)}  -> {r.returncode}\n{r.stdout}{r.stderr}\n")
    return r


def on_host(host: str, command: str, inventory: Path | None = None) -> str:
    """``command`` on ``host`` of the virtual lab (or ``inventory``) through Ansible's raw module; its output
    without Ansible's own lines. A failure fails the test."""
    inv = inventory or ROOT / "inventories" / "virtual" / "hosts.yml"
    r = subprocess.run(
        [str(BIN / "ansible"), "-i", str(inv), host, "-m", "ansible.builtin.raw", "-a", command],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_DEPRECATION_WARNINGS="false"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if " | CHANGED | " not in ln and not ln.startswith("Shared connection")]
    return "\n".join(lines)
