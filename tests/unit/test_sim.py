"""The simulated rack's own logic (``swaplab.sim``): its inventory is one swaplab accepts as a rack's, its refusals.

The rack itself (sshd, ipmi_sim, namespaces) runs in ``tests/integration/test_scale_sim.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplab.inventory import Inventory, load, validate
from swaplab.provision import lab_problems
from swaplab.sim import rack as sim


def _inventory(tmp_path: Path, names: list[str], blade_vars: dict[str, float | int] | None = None) -> Path:
    blades = [sim.SimBlade(n, i) for i, n in enumerate(names, start=1)]
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    addresses = [sim.NAS_ADDRESS, *(b.address for b in blades)]
    (tmp_path / "known_hosts").write_text("".join(f"{a} {key}\n" for a in addresses))
    path = tmp_path / "hosts.yml"
    path.write_text(sim.inventory_text(tmp_path, blades, blade_vars))
    return path


def test_a_simulated_rack_is_an_inventory_swaplab_accepts_as_a_racks(tmp_path: Path) -> None:
    """Rack-style names, IPMI power with the password from the environment, SOL consoles, an unmanaged NAS,
    every host key recorded: validated like any lab's, nothing refused, nothing to record."""
    names = sim.rack_names(12)
    assert names[0] == "r1-b01" and names[-1] == "r1-b12"
    path = _inventory(tmp_path, names, {"blade_boot__wave": 4, "blade_boot__pxe_s": 4})
    raw = load(str(path))
    assert validate(raw) == []
    inv = Inventory.of(str(path), raw)
    assert sorted(inv.blades) == names and inv.nas == "nas" and not inv.nas_managed
    assert lab_problems(inv, names, provisioned=False) == []
    hv = raw["_meta"]["hostvars"]["r1-b12"]
    assert hv["swaplab_power"]["host"] == "127.0.2.12" and hv["ansible_host"] == "127.0.1.12"
    assert hv["blade_boot__wave"] == 4 and hv["swaplab_console"] == {"driver": "ipmi-sol"}
    assert hv["swaplab_power"]["password"] == "{{ lookup('ansible.builtin.env', 'SWAPLAB_BMC_PASSWORD') }}"  # noqa: S105


def test_only_number_valued_role_variables_reach_the_inventory(tmp_path: Path) -> None:
    text = sim.inventory_text(
        tmp_path, [sim.SimBlade("r1-b01", 1)], {"blade_boot__wave": 3, "bad key": 1, "x": "y\n  evil: 1"}
    )  # type: ignore[dict-item]
    assert "blade_boot__wave: 3" in text and "bad key" not in text and "evil" not in text


def test_a_wave_outside_its_range_is_refused(tmp_path: Path) -> None:
    path = _inventory(tmp_path, ["r1-b01"], {"blade_boot__wave": 5000})
    assert any("blade_boot__wave 5000 must be a whole number from 0" in p for p in validate(load(str(path))))


def test_the_rack_refuses_what_it_cannot_simulate() -> None:
    assert any("1 to" in p for p in sim.problems([]))
    assert any("host names" in p for p in sim.problems(["bad_name", "nas"]))
    assert any("twice" in p for p in sim.problems(["r1-b01", "r1-b01"]))
    assert len(sim.rack_names(100)) == 100 and sim.rack_names(100)[0] == "r1-b001"


def test_the_controllers_cpu_over_a_window_counts_a_child_that_exits_mid_window_once() -> None:
    """Before (04c02ea): a process that exited mid-window read as 0 ticks, its whole past subtracted: the CPU per
    blade while loads ran came out at -0.05% at 100 blades. Now the tree's time is its live processes' and the
    children they reaped: a child that burns CPU and exits is counted once, and the figure never goes down."""
    import itertools
    import subprocess
    import sys
    import time

    from swaplab.sim import scenario

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys, time\n"
                               f"subprocess.run([sys.executable, '-c', {burn!r}])\ntime.sleep(1.5)\n"])  # fmt: skip
    try:
        samples = []
        for _ in range(12):  # about 2.4 s: the child starts, burns 0.6 s and exits in the middle
            samples.append({"tree_ticks": scenario.tree_ticks(scenario.tree(parent.pid)), "orphan_cpu_s": 0.0})
            time.sleep(0.2)
        steps = [b["tree_ticks"] - a["tree_ticks"] for a, b in itertools.pairwise(samples)]
        assert min(steps) >= 0, steps  # never down, not when the child exits
        assert 0.5 <= scenario.window_cpu_s(samples) <= 1.5, scenario.window_cpu_s(samples)
    finally:
        parent.wait(10)
    assert scenario.window_cpu_s(samples[:1]) == 0.0


def test_the_simulated_chassis_serves_ipmi_sim_as_the_labs_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The simulated blade's chassis program (``swaplab.sim.chassis``) against a stand-in rack daemon on
    a Unix socket: power state, on, off, reset as off then on, a refusal as an IPMI error, and the one-time
    boot override consumed by the next power-on (the request dispatch is the virtual lab's own)."""
    import socket
    import threading

    from swaplab.sim import chassis

    sock_path = str(tmp_path / "rack.sock")
    asked: list[str] = []
    state = {"on": False}
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(8)

    def daemon() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(4096).decode().strip()
                asked.append(request)
                what = request.split()[-1]
                if request.startswith("power r9-b99"):
                    answer = "error: no such blade"
                elif what == "status":
                    answer = "ok on" if state["on"] else "ok off"
                else:
                    state["on"] = what == "on"
                    answer = "ok"
                conn.sendall(answer.encode() + b"\n")

    threading.Thread(target=daemon, daemon=True).start()
    state_dir = tmp_path / "bmc"
    state_dir.mkdir()
    try:

        def run(*args: str, blade: str = "r1-b01") -> int:
            return chassis.main([sock_path, blade, str(state_dir), *args])

        assert run("get", "power") == 0 and capsys.readouterr().out == "power:0\n"
        assert run("set", "boot", "pxe") == 0 and (state_dir / "boot-once").read_text() == "pxe\n"
        assert run("set", "power", "1") == 0 and state["on"] and not (state_dir / "boot-once").exists()
        assert run("get", "power") == 0 and capsys.readouterr().out == "power:1\n"
        assert run("set", "reset", "1") == 0 and state["on"]
        assert asked[-2:] == ["power r1-b01 off", "power r1-b01 on"]
        assert run("set", "shutdown", "1") == 0 and not state["on"]
        assert run("set", "power", "1", blade="r9-b99") == 1 and "no such blade" in capsys.readouterr().err
        assert run("set", "frobnicate", "1") == 1 and "unsupported request" in capsys.readouterr().err
        logged = (state_dir / "chassis.log").read_text().splitlines()
        assert [" ".join(line.split()[1:]) for line in logged][:3] == ["get power", "set boot pxe", "set power 1"]
    finally:
        server.close()
