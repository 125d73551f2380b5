"""`--limit` on a shared NAS (issue 21): blade A is added and provisioned while blade B swaps on NFS and NBD.

Two controllers share one NAS, as two Jenkins jobs would: B was provisioned alone (the NAS then served B
only) and runs its hog trials; meanwhile `swaplab run --limit A` provisions A, which adds A's exports to
the NAS's NFS and NBD servers. Those servers must not be restarted under B (a restart drops B's NBD
connection, its swap device, and stalls its NFS root and swap through Ganesha's grace period), and nothing
of B's (root, kernel, swapfile, NBD file) may change. A 2-blade lab on 2 TCG cores costs about 15 minutes:
outside CI's budget, `make limit` runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import BIN, ROOT, swaplab

pytestmark = [pytest.mark.integration, pytest.mark.two_blades, pytest.mark.timeout(3600)]
INVENTORY = ROOT / "inventories" / "virtual" / "hosts.yml"
RUN = ROOT / ".cache" / "lab" / "run"
A, B = "r1-b01", "r1-b02"
SHORT = ["--precision", "0", "--working-set", "1.25x", "--ratio-gate", "50"]


def _on(host: str, command: str, inventory: Path = INVENTORY) -> str:
    r = subprocess.run(
        [str(BIN / "ansible"), "-i", str(inventory), host, "-m", "ansible.builtin.raw", "-a", command],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_DEPRECATION_WARNINGS="false"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return "\n".join(ln for ln in r.stdout.splitlines()
                     if " | CHANGED | " not in ln and not ln.startswith("Shared connection"))  # fmt: skip


@pytest.fixture(scope="module")
def two_blades() -> Iterator[None]:
    assert swaplab("lab", "build").returncode == 0
    try:
        assert swaplab("lab", "up", "--names", f"{A},{B}", timeout=600).returncode == 0
        yield
    finally:
        pids = [int(p.read_text()) for p in RUN.glob("*.pid") if p.read_text().strip().isdigit()]
        assert swaplab("lab", "down").returncode == 0
        assert [p for p in pids if Path(f"/proc/{p}").exists()] == []


def _nas_state(address_b: str) -> dict[str, str]:
    """What a restart or a rewrite on the NAS would change: the servers' processes, the process serving B's
    NBD connection, B's files."""
    nbd = _on("nas", "ss -Htnp state established '( sport = :10809 )'")
    # The peer, as ss shows it: 10.0.0.12:60490, or IPv4-mapped on a dual-stack socket: [::ffff:10.0.0.12]:60490.
    peer = re.compile(rf"(?:\s|\[::ffff:){re.escape(address_b)}\]?:\d+(?:\s|$)")
    served = [line for line in nbd.splitlines() if peer.search(line)]
    assert len(served) == 1, nbd  # B's swap device: one connection
    main_nbd = "for p in $(pidof nbd-server); do grep -q '^PPid:\\s*1$' /proc/$p/status && echo $p; done"
    files = (f"stat -c '%n %i %U:%G %a %s' /srv/swap/{B}/swapfile /srv/nbd/{B}.img; find /srv/nfsroot/{B}/boot "
             f"/srv/nfsroot/{B}/usr/lib/modules -maxdepth 1 -printf '%p %i %T@\\n' | sort")  # fmt: skip
    return {
        "ganesha": _on("nas", "systemctl show -p MainPID --value nfs-ganesha").strip(),
        "nbd-server": _on("nas", main_nbd),
        "b-connection": re.findall(r"pid=(\d+)", served[0])[0],
        "b-files": _on("nas", files),
    }


def test_a_blade_provisioned_with_limit_leaves_a_swapping_blade_alone(two_blades: None, tmp_path: Path) -> None:
    inv = yaml.safe_load(INVENTORY.read_text())
    address_b = inv["all"]["children"]["blades"]["hosts"][B]["ansible_host"]
    # B alone first: the NAS then serves B only, and A's exports are new to it when A is provisioned.
    only_b = tmp_path / "only-b.yml"
    del inv["all"]["children"]["blades"]["hosts"][A]
    only_b.write_text(yaml.safe_dump(inv))
    r = swaplab("provision", "-i", str(only_b), timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert A not in _on("nas", "cat /etc/nbd-server/config /etc/ganesha/ganesha.conf")

    # B's hog trials, two pairs on NFS and NBD swap, from a controller of its own.
    cmd = [str(BIN / "swaplab"), "run", "-i", str(INVENTORY), "--limit", B, "--no-provision", "--suite", "config,hog",
           "--trials", "2", *SHORT]  # fmt: skip
    b_run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 900
        load = "/var/lib/swaplab/loads/hog-t1-nfs"
        while "started" not in _on(B, f"test -s {load}/t_ready && echo started || echo waiting").splitlines():
            assert b_run.poll() is None and time.monotonic() < deadline, "B's first trial never started"
            time.sleep(5)
        before = _nas_state(address_b)

        # A, from another controller, while B swaps.
        a = swaplab("run", "-i", str(INVENTORY), "--limit", A, "--suite", "config", timeout=1800)
        assert a.returncode == 0, a.stdout[-3000:] + a.stderr[-2000:]
        assert b_run.poll() is None, "B's run ended before A was provisioned: the test proved nothing"
        after = _nas_state(address_b)
        b_out, b_err = b_run.communicate(timeout=1800)
    finally:
        if b_run.poll() is None:
            b_run.terminate()
            b_run.wait(120)
    # A's exports were added, and the servers B uses were told to read them, not restarted.
    configs = _on("nas", "cat /etc/nbd-server/config /etc/ganesha/ganesha.conf")
    assert f"[{A}]" in configs and f"/srv/swap/{A}" in configs
    assert before == after, (before, after)
    # B's trials passed: every page back, no NBD or swap error in its kernel log (the verdict's rules).
    assert b_run.returncode == 0, b_out[-3000:] + b_err[-3000:]
    run_dir = Path(b_out.strip().splitlines()[-1])
    doc = json.loads((run_dir / "results.json").read_text())
    trials = doc["blades"][0]["hog_trials"]
    assert {(t["trial"], t["store"]) for t in trials} == {(1, "nfs"), (1, "nbd"), (2, "nfs"), (2, "nbd")}
    assert all(t["bad_pages"] == 0 for t in trials), trials
