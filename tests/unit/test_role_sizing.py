"""The NAS's servers are sized from the blades they serve: nfsd threads and dnsmasq's TFTP
transfers, as the roles' defaults compute them with Ansible's own templating."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _render(role: str, var: str, blades: int) -> int:
    from ansible.template import Templar, trust_as_template

    raw = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    defaults = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in raw.items()}  # as a role's are
    names = [f"r1-b{i:03d}" for i in range(blades)]
    return int(Templar(loader=None, variables={**defaults, "groups": {"blades": names}}).template(defaults[var]))


@pytest.mark.parametrize(("blades", "threads", "tftp"), [(1, 8, 50), (10, 20, 50), (100, 200, 100), (400, 512, 400)])
def test_server_sizes_follow_the_blade_count(blades: int, threads: int, tftp: int) -> None:
    """Before: Debian's 8 nfsd threads and dnsmasq's 50 TFTP transfers, whatever the rack."""
    assert _render("nfs_server", "nfs_server__threads", blades) == threads
    assert _render("pxe_server", "pxe_server__tftp_max", blades) == tftp


def test_the_settings_reach_the_servers() -> None:
    assert "tftp-max={{ pxe_server__tftp_max | int }}" in (
        ROOT / "roles/pxe_server/templates/etc/dnsmasq.d/swaplab.conf.j2").read_text()  # fmt: skip
    script = (ROOT / "roles/nfs_server/files/nfs_server.sh").read_text()
    assert 'rpc.nfsd "$want"' in script and "/etc/nfs.conf.d/swaplab.conf" in script


def _render_with(role: str, var: str, variables: dict[str, object]) -> object:
    from ansible.template import Templar, trust_as_template

    raw = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    defaults = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in raw.items()}
    return Templar(loader=None, variables={**defaults, **variables}).template(defaults[var])


def test_a_limited_run_acts_on_its_own_blades_roots_kernels_and_swapfiles_only() -> None:
    """Before: the NAS roles acted on groups['blades'] whatever --limit said (a run limited to r1-b01 installed
    its kernel into r1-b02's live root). The exports still name every blade: none is unexported."""
    every = {"groups": {"blades": ["r1-b01", "r1-b02"]}}
    limited = {**every, "swaplab_acted_on": ["r1-b01"]}
    for role, var in (("nfsroot", "nfsroot__blades"), ("kernel", "kernel__blades"),
                      ("nfs_server", "nfs_server__acted_on")):  # fmt: skip
        assert list(_render_with(role, var, every)) == ["r1-b01", "r1-b02"]  # type: ignore[call-overload]
        assert list(_render_with(role, var, limited)) == ["r1-b01"]  # type: ignore[call-overload]
    assert list(_render_with("nfs_server", "nfs_server__blades", limited)) == ["r1-b01", "r1-b02"]  # type: ignore[call-overload]
    tasks = (ROOT / "roles/nfs_server/tasks/main.yml").read_text()
    assert "nfs_server__acted_on | map('quote')" in tasks


def _ganesha_conf(blades: dict[str, str]) -> str:
    from ansible.template import Templar, trust_as_template

    raw = yaml.safe_load((ROOT / "roles/nfs_server/defaults/main.yml").read_text())
    defaults = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in raw.items()}
    text = (ROOT / "roles/nfs_server/templates/etc/ganesha/ganesha.conf.j2").read_text()
    variables = {**defaults, "groups": {"blades": list(blades)},
                 "hostvars": {b: {"ansible_host": a} for b, a in blades.items()}}  # fmt: skip
    return str(Templar(loader=None, variables=variables).template(trust_as_template(text)))


def _export_ids(conf: str) -> dict[str, int]:
    import re

    return {path: int(i) for i, path in re.findall(r'Export_Id = (\d+);\n\s+Path = "([^"]+)"', conf)}


def test_a_blade_keeps_its_ganesha_export_ids_when_another_is_added() -> None:
    """Before: ids were positions in the blade list; adding r1-b01 before r1-b02 gave r1-b02's exports r1-b01's
    former ids while r1-b02 was connected (its file handles name the export id)."""
    alone = _export_ids(_ganesha_conf({"r1-b02": "10.0.0.12"}))
    both = _export_ids(_ganesha_conf({"r1-b01": "10.0.0.11", "r1-b02": "10.0.0.12"}))
    assert alone == {"/srv/nfsroot/r1-b02": 24, "/srv/swap/r1-b02": 25}
    assert {p: i for p, i in both.items() if "r1-b02" in p} == alone
    assert len(set(both.values())) == 4 and min(both.values()) >= 1
    v6 = _export_ids(_ganesha_conf({"r1-b03": "2001:db8::1:2a", "r1-b04": "::ffff:10.0.1.5"}))
    assert v6 == {"/srv/nfsroot/r1-b03": 84, "/srv/swap/r1-b03": 85, "/srv/nfsroot/r1-b04": 522,
                  "/srv/swap/r1-b04": 523}  # fmt: skip
