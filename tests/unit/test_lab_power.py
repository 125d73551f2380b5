"""`swaplab lab power`'s refusals, which need no running lab (the actions themselves are exercised by the
integration test on real QEMU machines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swaplab.lab import machines, procs
from swaplab.lab.paths import LabPaths
from swaplab.labshape import LabShape


def _lab(tmp_path: Path) -> LabPaths:
    paths = LabPaths(tmp_path)
    paths.run.mkdir(parents=True)
    vm = LabShape(nas="vm")
    machines.LabState(str(paths.run), 12222, "10.0.0.1", "key", "known_hosts", shape=vm).save(paths.run / "lab.json")
    return paths


@pytest.mark.parametrize("action", ["off", "on", "cycle"])
def test_the_nas_is_never_powered_off_or_cycled(tmp_path: Path, action: str) -> None:
    with pytest.raises(machines.LabError, match=f"the NAS takes only pause, resume, status .`{action}`"):
        machines.power(_lab(tmp_path), "nas", action)


def test_a_nas_that_is_not_running_is_named(tmp_path: Path) -> None:
    with pytest.raises(machines.LabError, match="the NAS is not running"):
        machines.power(_lab(tmp_path), "nas", "pause")


def test_an_unknown_machine_is_named_with_those_the_lab_has(tmp_path: Path) -> None:
    with pytest.raises(machines.LabError, match="no running blade 'blade9': the lab has nas"):
        machines.power(_lab(tmp_path), "blade9", "pause")


def test_no_lab_up(tmp_path: Path) -> None:
    with pytest.raises(machines.LabError, match="no lab is up"):
        machines.power(LabPaths(tmp_path), "nas", "pause")


def test_lab_down_stops_a_process_that_is_its_own_child(tmp_path: Path) -> None:
    """`swaplab run` brings the lab up itself, so the BMCs are its children: once killed they are
    zombies until reaped, and `down` must neither wait for them forever nor count them alive."""
    import subprocess
    import threading

    child = subprocess.Popen(["sleep", "300"])
    pidfile = tmp_path / "bmc-blade1.pid"
    pidfile.write_text(f"{child.pid}\n")
    done = threading.Event()
    threading.Thread(target=lambda: (procs.stop(pidfile), done.set()), daemon=True).start()
    assert done.wait(20), "_stop waited on its own (zombie) child"
    assert child.poll() is not None and not pidfile.exists()


def test_the_host_nas_is_refused_beside_the_hosts_own_links_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplab.lab import hostnas, taps

    monkeypatch.setattr(taps, "links", lambda: ["lo", "eth0"])
    found = hostnas.problems()
    assert any("not beside eth0" in p and "unshare --net" in p and "--nas vm" in p for p in found), found
    monkeypatch.setattr(taps, "links", lambda: ["lo", hostnas.VETH, "swl-dhcp"])
    assert not any("beside" in p for p in hostnas.problems())


def test_the_host_nas_configuration_names_its_links_and_masks_kernel_nfsd(tmp_path: Path) -> None:
    from swaplab.lab import hostnas

    hostnas._upper_files(tmp_path, "10.0.0.1")
    lab = (tmp_path / "etc/systemd/network/10-lab.network").read_text()
    assert f"Name={hostnas.TAP}" in lab and "Address=10.0.0.1/24" in lab
    assert f"Address={hostnas.MGMT_NAS}/30" in (tmp_path / "etc/systemd/network/20-mgmt.network").read_text()
    assert (tmp_path / "etc/systemd/system/nfs-server.service").readlink() == Path("/dev/null")


def test_a_host_nas_lab_names_ganesha_as_its_nfs_service_and_a_vm_lab_nfsd(tmp_path: Path) -> None:
    paths = _lab(tmp_path)
    assert machines.nfs_service(paths) == "nfs-server"
    st = machines.LabState.load(paths.run / "lab.json")
    st.shape = LabShape(nas="host")
    st.save(paths.run / "lab.json")
    assert machines.nfs_service(paths) == "nfs-ganesha"
    # A state saved before the shape had its own dataclass (flat keys) reads the same.
    doc = json.loads((paths.run / "lab.json").read_text())
    flat = {k: v for k, v in doc.items() if k != "shape"} | {"nas": "host", "bmc": "ipmi"}
    (paths.run / "lab.json").write_text(json.dumps(flat))
    assert machines.LabState.load(paths.run / "lab.json").shape == LabShape(bmc="ipmi", nas="host")


def test_the_host_nas_is_paused_only_when_every_live_process_in_it_is_stopped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from swaplab.lab import hostnas

    for states, frozen in ((["T", "t", "T"], True), (["T", "S"], False), (["D", "T"], False), ([], False)):
        monkeypatch.setattr(hostnas, "_states", lambda _run, s=states: s)
        assert hostnas.is_frozen(tmp_path) is frozen, states
