"""Capture real ansible-runner events for tests/unit/test_ansible_events.py (run it by hand, as root, in a
loopback-only network namespace: ``unshare --net sh -c 'ip link set lo up && .venv/bin/python
tests/unit/data/ansible-events/capture.py'``).

Two real runs: swaplab's boot play against two blades behind fake QMP power sockets, one that never answers
(a closed ssh port: the probe unreachable, power-cycles, failed waits for ssh) and one reached locally
(booted: ssh answered, then the wrong kernel); and scratch plays on this machine, each on a host of its
own (a script that fails, an ignored failure, a loop with a failing item, a change, a module's failure).
A third run boots a blade of a simulated rack (``swaplab.sim``: a real sshd behind a real ipmi_sim) that
answers: the wait for ssh that succeeds. Each kind of event is kept once per host, with the fields the
classifier reads, in events.json.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

import ansible_runner

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT))

from tests.unit.fakes import FakeQMP  # noqa: E402

KEEP = ("task", "play", "host", "task_action", "ignore_errors", "res")
SCRATCH = """
- name: Scratch
  hosts: c1,c2,c3,c4
  gather_facts: false
  tasks:
    - name: A script that fails
      ansible.builtin.script: fail.sh
      when: inventory_hostname == 'c1'
    - name: A command that fails, ignored
      ansible.builtin.command: "false"
      ignore_errors: true
      when: inventory_hostname == 'c2'
    - name: A change
      ansible.builtin.command: "true"
      changed_when: true
      when: inventory_hostname == 'c2'
    - name: A loop with a failing item
      ansible.builtin.command: "test {{ item }} = 1"
      loop: [1, 2]
      when: inventory_hostname == 'c3'
    - name: A module that fails
      ansible.builtin.assert: {that: false, fail_msg: the NAS does not export /srv/swap/blade9}
      when: inventory_hostname == 'c4'
- name: Scratch, a host that does not answer
  hosts: c5
  gather_facts: false
  tasks:
    - name: Anything on it
      ansible.builtin.raw: "true"
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def events(private: Path, playbook: Path, inventory: Path, extravars: dict[str, object]) -> list[dict[str, object]]:
    private.mkdir(parents=True, exist_ok=True)
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "ANSIBLE_LIBRARY": str(ROOT / "plugins" / "modules"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    r = ansible_runner.run(private_data_dir=str(private), playbook=str(playbook), inventory=str(inventory),
                           extravars=extravars, quiet=True, timeout=300, envvars=env)  # fmt: skip
    print(playbook.name, r.status, r.rc, file=sys.stderr)
    if r.rc not in (0, 2):
        print(r.stdout.read()[-3000:], file=sys.stderr)
    return list(r.events)


def main() -> None:
    out: dict[tuple[object, ...], dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        qmp1, qmp2 = FakeQMP(t / "blade1.qmp", running=True), FakeQMP(t / "blade2.qmp", running=True)
        inv = t / "hosts.yml"
        inv.write_text(
            "all:\n  children:\n    nas:\n      hosts:\n"
            "        nas: {ansible_host: 127.0.0.1, swaplab_lab_address: 10.0.0.1}\n"
            "    blades:\n      hosts:\n        blade1:\n"
            f"          ansible_host: 127.0.0.1\n          ansible_port: {closed_port()}\n"
            f"          swaplab_power: {{driver: qmp, socket: {qmp1.path}}}\n"
            "          blade_boot__timeout: 5\n          blade_boot__delay: 0\n"
            "        blade2:\n          ansible_connection: local\n"
            f"          swaplab_power: {{driver: qmp, socket: {qmp2.path}}}\n"
            "          blade_boot__timeout: 5\n          blade_boot__delay: 0\n"
            '    local:\n      vars: {ansible_python_interpreter: "{{ ansible_playbook_python }}"}\n      hosts:\n'
            + "".join(f"        c{i}: {{ansible_connection: local}}\n" for i in range(1, 5))
            + f"        c5: {{ansible_host: 127.0.0.1, ansible_port: {closed_port()}}}\n"
        )
        got = events(t / "boot", ROOT / "playbooks" / "boot.yml", inv, {"swaplab_kernel": {"release": "6.1.0-test"}})
        qmp1.close()
        qmp2.close()
        # A blade that boots: one of a simulated rack, powered on through its BMC, answering ssh.
        from swaplab.sim import rack

        os.environ.setdefault("SWAPLAB_BMC_PASSWORD", "capture-only")
        sim_inv = rack.up(t / "rack", ["r1-b01"], "6.1.0-test", boot_s=1.0)
        try:
            got += events(t / "sim", ROOT / "playbooks" / "boot.yml", sim_inv,
                          {"swaplab_kernel": {"release": "6.1.0-test"}, "blade_boot__wave": 0})  # fmt: skip
        finally:
            rack.down(t / "rack")
        (t / "scratch").mkdir()
        (t / "scratch" / "fail.sh").write_text("#!/bin/sh\necho 'nbd_server: /srv/nbd is full' >&2\nexit 3\n")
        (t / "scratch" / "play.yml").write_text(SCRATCH)
        got += events(t / "scratch-run", t / "scratch" / "play.yml", inv, {})
    for ev in got:
        data = ev.get("event_data", {})
        if ev.get("event") not in ("playbook_on_task_start", "runner_on_ok", "runner_on_failed",
                                   "runner_on_unreachable", "runner_item_on_failed"):  # fmt: skip
            continue
        key = (ev["event"], data.get("task"), data.get("host"))
        out.setdefault(key, {"event": ev["event"], "event_data": {k: data[k] for k in KEEP if k in data}})
    (HERE / "events.json").write_text(json.dumps(list(out.values()), indent=1, sort_keys=True) + "\n")
    print(f"{len(out)} events kept in {HERE / 'events.json'}")


if __name__ == "__main__":
    main()
