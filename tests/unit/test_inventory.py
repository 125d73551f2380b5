"""Inventory validation reports every problem at once, each naming host, problem and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swaplab.inventory import InventoryError, load, validate
from swaplab.lab.machines import Blade, LabState, write_inventory

ROOT = Path(__file__).resolve().parents[2]


def inv(blades: dict[str, dict[str, Any]], nas: dict[str, Any] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"_meta": {"hostvars": dict(blades)}, "all": {"children": ["nas", "blades"]}}
    d["blades"] = {"hosts": list(blades)}
    if nas is not None:
        d["nas"] = {"hosts": ["nas"]}
        d["_meta"]["hostvars"]["nas"] = nas
    return d


QMP = {"driver": "qmp", "socket": "/x.qmp"}


def test_good_inventory_has_no_problems() -> None:
    blades = {"b1": {"ansible_host": "10.0.0.11", "swaplab_mac": "52:54:00:00:00:11", "swaplab_power": QMP}}
    assert validate(inv(blades, {"swaplab_lab_address": "10.0.0.1"})) == []


def test_all_problems_at_once() -> None:
    blades = {
        "b1": {"ansible_host": "10.0.0.11", "swaplab_mac": "52:54:00:00:00:11", "swaplab_power": QMP},
        "b2": {"ansible_host": "10.0.0.11", "swaplab_mac": "52:54:00:00:00:11", "swaplab_power": {"driver": "ipmi"}},
        "b3": {"swaplab_power": {"driver": "telnet"}},
        "b4": {"ansible_host": "10.0.0.14", "swaplab_mac": "not-a-mac"},
    }
    problems = validate(inv(blades), kernel="/nonexistent/k.deb")
    text = "\n".join(problems)
    assert "no `nas` group" in text
    assert "b2: swaplab_mac 52:54:00:00:00:11 is also b1's" in text
    assert "b2: address 10.0.0.11 is also b1's" in text
    assert "b2: swaplab_power driver ipmi lacks host, user, password" in text and "Vault" in text
    assert "b3: no swaplab_mac" in text and "b3: no ansible_host" in text
    assert "b3: swaplab_power driver 'telnet' is unknown" in text
    assert "b4: swaplab_mac 'not-a-mac' is not a MAC address" in text
    assert "b4: no swaplab_power" in text
    assert "kernel /nonexistent/k.deb: no such file" in text
    assert len(problems) == 10


def test_missing_blades_group() -> None:
    d = inv({}, {"swaplab_lab_address": "10.0.0.1"})
    del d["blades"]
    assert validate(d) == ["no `blades` group: add a group `blades` with one host per blade"]


def test_lab_example_inventory_is_valid() -> None:
    data = load(str(ROOT / "inventories" / "lab.example" / "hosts.yml"), str(Path(_bin()) / "ansible-inventory"))
    assert validate(data) == []


def test_generated_virtual_inventory_is_valid(tmp_path: Path) -> None:
    st = LabState(str(tmp_path), 12222, "10.0.0.1", "/k", str(tmp_path / "kh"))
    st.blades = [Blade(f"blade{i}", f"52:54:00:00:00:1{i}", f"10.0.0.1{i}", 256, f"/q{i}", "/c", "/s", "/p")
                 for i in (1, 2)]  # fmt: skip
    out = tmp_path / "hosts.yml"
    write_inventory(st, out)
    data = load(str(out), str(Path(_bin()) / "ansible-inventory"))
    assert validate(data) == []
    assert data["_meta"]["hostvars"]["blade2"]["swaplab_power"] == {"driver": "qmp", "socket": "/q2"}
    assert "ProxyCommand" in data["_meta"]["hostvars"]["blade1"]["ansible_ssh_common_args"]


def test_malformed_inventory_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.yml"
    bad.write_text("all:\n  children:\n    nas: [oops\n")
    with pytest.raises(InventoryError, match="cannot be parsed"):
        load(str(bad), str(Path(_bin()) / "ansible-inventory"))


def _bin() -> str:
    import sys

    return str(Path(sys.executable).parent)
