"""`--limit` on a shared NAS: blade A is provisioned while blade B swaps on NFS and NBD.

Two controllers share one NAS, as two Jenkins jobs would. B was provisioned alone (the NAS then served B
only) and runs hog trials from its own controller, while `swaplab run --limit A` provisions A:

1. A new to the NAS: Ganesha takes A's exports on SIGHUP, but Debian 12's nbd-server cannot add an
   export while it runs (after SIGHUP it refuses every new connection: reproduced with its own binary),
   and a restart would drop B's swap device. A's run stops with the reason and the fix (exit 2).
2. As the fix says, with no blade on NBD, a provisioning restarts nbd-server with A's export.
3. A known to the NAS, re-provisioned and tested with --limit while B swaps: it passes.

Throughout, the NAS's server processes, the process serving B's NBD connection and B's files stay the
same, and B's trials pass with every page back. A 2-blade lab on 2 TCG cores: outside CI's budget,
`make limit` runs it (8 minutes measured).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import BIN, ROOT, swaplab
from tests.integration.conftest import on_host as _on

pytestmark = [pytest.mark.integration, pytest.mark.two_blades, pytest.mark.timeout(3600)]
INVENTORY = ROOT / "inventories" / "virtual" / "hosts.yml"
RUN = ROOT / ".cache" / "lab" / "run"
A, B = "r1-b01", "r1-b02"
SHORT = ["--precision", "0", "--working-set", "1.25x", "--ratio-gate", "50"]


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


def _b_runs(trials: int) -> subprocess.Popen[str]:
    """B's hog trials on NFS and NBD swap, from a controller of its own; returned once its first has started."""
    cmd = [str(BIN / "swaplab"), "run", "-i", str(INVENTORY), "--limit", B, "--no-provision", "--suite", "config,hog",
           "--trials", str(trials), *SHORT]  # fmt: skip
    load = "/var/lib/swaplab/loads/hog-t1-nfs"
    _on(B, f"rm -rf {load}")  # an earlier run's trial left one
    b_run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900
    while "started" not in _on(B, f"test -s {load}/t_ready && echo started || echo waiting").splitlines():
        if b_run.poll() is not None or time.monotonic() > deadline:
            b_run.kill()
            pytest.fail("B's first trial never started: " + "".join(b_run.communicate(timeout=60))[-3000:])
        time.sleep(5)
    return b_run


def _b_passed(b_run: subprocess.Popen[str], trials: int) -> None:
    """B's run ended with every trial passed: every page back, no NBD or swap error in its kernel log."""
    out, err = b_run.communicate(timeout=1800)
    assert b_run.returncode == 0, out[-3000:] + err[-3000:]
    doc = json.loads((Path(out.strip().splitlines()[-1]) / "results.json").read_text())
    done = doc["blades"][0]["hog_trials"]
    assert {(t["trial"], t["store"]) for t in done} == {(t, s) for t in range(1, trials + 1) for s in ("nfs", "nbd")}
    assert all(t["bad_pages"] == 0 for t in done), done


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

    # 1. A added to the NAS while B swaps. Ganesha takes A's exports on SIGHUP; Debian 12's nbd-server
    # cannot (after SIGHUP it refuses every new connection), and a restart would drop B's swap device:
    # A's provisioning stops with the reason and the fix (exit 2), and nothing of B's moves.
    b_run = _b_runs(2)
    try:
        before = _nas_state(address_b)
        a = swaplab("run", "-i", str(INVENTORY), "--limit", A, "--suite", "config", timeout=1800)
        assert a.returncode == 2, a.stdout[-3000:] + a.stderr[-2000:]
        assert "Debian 12's nbd-server cannot add an export while it runs" in a.stdout, a.stdout[-3000:]
        assert "Provision these blades when no blade swaps on NBD" in a.stdout
        assert b_run.poll() is None, "B's run ended before A was provisioned: the test proved nothing"
        assert _nas_state(address_b) == before
        assert f"/srv/swap/{A}" in _on("nas", "cat /etc/ganesha/ganesha.conf")  # taken on SIGHUP
    except BaseException:
        b_run.kill()
        raise
    _b_passed(b_run, 2)

    # 2. As the message says: no blade on NBD, and the NAS takes A (nbd-server restarted, with no client).
    _on(B, "swapoff /dev/nbd0 && nbd-client -d /dev/nbd0")
    r = swaplab("provision", timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]

    # 3. A blade the NAS knows, re-provisioned and tested with --limit while B swaps: B is not touched.
    b_run = _b_runs(1)
    try:
        again = _nas_state(address_b)
        assert again["nbd-server"] != before["nbd-server"] and again["ganesha"] == before["ganesha"]
        a = swaplab("run", "-i", str(INVENTORY), "--limit", A, "--suite", "config", timeout=1800)
        assert a.returncode == 0, a.stdout[-3000:] + a.stderr[-2000:]
        assert b_run.poll() is None, "B's run ended before A was tested: the test proved nothing"
        assert _nas_state(address_b) == again
    except BaseException:
        b_run.kill()
        raise
    _b_passed(b_run, 1)
