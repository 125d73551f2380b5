"""The paths a rack takes that the main run does not: a Redfish BMC (sushy-emulator, https with the
lab's CA) in front of the blade, and a DHCP server that is not swaplab's (the lab's own dnsmasq on a
tap, addresses only) with swaplab's dnsmasq as proxy-DHCP. Provisioning powers the blade, sets a
one-time PXE boot override and boots it to ssh through both. One lab of its own (both at once, to
spend one bring-up), brought down at the end. Its blade has a rack-style name (``r1-b01``): the
shortened run, its journal, JUnit and results keep it whole."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import BMC_PASSWORD, ROOT, on_host, swaplab

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
INVENTORY = ROOT / "inventories" / "virtual" / "hosts.yml"
RUN = ROOT / ".cache" / "lab" / "run"
NAME = "r1-b01"  # rack-style: a hyphen in the host name


@pytest.fixture(scope="module")
def redfish_lab() -> Iterator[None]:
    assert swaplab("lab", "build").returncode == 0
    try:
        # The VM NAS (kernel nfsd): the default lab's NAS is the host container (nfs-ganesha), so this
        # module keeps the kernel implementation of nfs_server tested, and runs the shortened run on it.
        r = swaplab("lab", "up", "--bmc", "redfish", "--dhcp", "lab", "--nas", "vm", "--names", NAME, timeout=600)
        assert r.returncode == 0, r.stderr
        yield
    finally:
        pids = [int(p.read_text()) for p in RUN.glob("*.pid") if p.read_text().strip().isdigit()]
        assert swaplab("lab", "down").returncode == 0
        assert [p for p in pids if Path(f"/proc/{p}").exists()] == []


def test_a_blade_behind_redfish_and_proxy_dhcp_boots_to_ssh(redfish_lab: None) -> None:
    power = yaml.safe_load(INVENTORY.read_text())["all"]["children"]["blades"]["hosts"][NAME]["swaplab_power"]
    assert power["driver"] == "redfish" and power["url"].startswith("https://127.0.0.1:")
    assert Path(power["verify"]).is_file()  # the lab's CA: certificates are verified
    r = swaplab("provision", timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    log = [line.split(None, 1)[1] for line in (RUN / "bmc-redfish" / NAME / "redfish.log").read_text().splitlines()]
    acts = [entry for entry in log if not entry.startswith("power?")]
    assert "power On" in acts and acts.index("boot Pxe") < acts.index("power On"), log
    assert "amd64" in on_host(NAME, "uname -r")
    # The BMC's password reached it through the environment only.
    assert BMC_PASSWORD not in INVENTORY.read_text()
    assert BMC_PASSWORD.encode() not in (RUN / "bmc-redfish" / "htpasswd").read_bytes()  # bcrypt, not the password
    # Its address came from the lab's DHCP server; swaplab's dnsmasq on the NAS only answered PXE.
    leases = (RUN / "dhcp.log").read_text()
    assert "DHCPACK(swl-dhcp) 10.0.0.11 52:54:00:00:00:11" in leases, leases[-2000:]
    nas_conf = on_host("nas", "cat /etc/dnsmasq.d/swaplab.conf")
    assert "dhcp-range=10.0.0.0,proxy" in nas_conf and "dhcp-authoritative" not in nas_conf


def test_the_vm_nas_with_kernel_nfsd_passes_the_shortened_run(redfish_lab: None) -> None:
    """The shortened run against this lab as provisioned: swap over NFS served by kernel nfsd (the VM NAS),
    the blade powered through Redfish."""
    nas = yaml.safe_load(INVENTORY.read_text())["all"]["children"]["nas"]["hosts"]["nas"]
    assert "nfs_server__implementation" not in nas  # the role's default: kernel nfsd
    r = swaplab("run", "-i", str(INVENTORY), "--no-provision", "--suite", "config,hog,verdict", "--trials", "1",
                "--precision", "0", "--working-set", "1.25x", "--ratio-gate", "50", "--no-warm-up",
                timeout=1500)  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    doc = yaml.safe_load((run_dir / "results.json").read_text())
    facts = [rec for c in doc["blades"][0]["cases"] for rec in c["records"] if rec["type"] == "facts"]
    assert any("vers=3" in str(f["values"].get("nfs_mount_options", "")) for f in facts), facts
    # The rack-style name, whole, everywhere: the JUnit suite and case names, results, the journal's plan.
    assert doc["blades"][0]["name"] == NAME
    names = {c["name"] for c in doc["blades"][0]["cases"]}
    assert {"test_reachable", "test_hog[t1-nfs]", "test_hog[t1-nbd]", "test_nfs_nbd_ratio"} <= names, names
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert [s.get("name") for s in junit.iter("testsuite")] == [NAME]
    assert all(c.get("classname", "").startswith(f"{NAME}.") and NAME not in c.get("name", "")
               for c in junit.iter("testcase"))  # fmt: skip
    planned = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    blades = {c["blade"] for e in planned if e.get("event") == "planned" for c in e["cases"]}
    assert blades == {NAME}, blades
