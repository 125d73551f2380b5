#!/usr/bin/python
"""Ansible module: a machine's power through swaplab's power drivers (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: swaplab_power
short_description: Switch a lab machine's power through a swaplab power driver
description:
  - Runs on the controller (delegate_to localhost) and drives the machine's power
    through the driver named in its inventory C(swaplab_power) settings (qmp now;
    ipmi and redfish implement the same protocol).
options:
  settings:
    description: The machine's C(swaplab_power) mapping (C(driver) and its settings).
    type: dict
    required: true
  state:
    description: on, off, cycled (off then on, always changes), paused, resumed, or status (read only).
    type: str
    required: true
    choices: [on, off, cycled, paused, resumed, status]
author: swaplab
"""

EXAMPLES = r"""
- name: Power-cycle a blade
  swaplab_power:
    settings: "{{ swaplab_power }}"
    state: cycled
  delegate_to: localhost
"""

RETURN = r"""
power:
  description: The power state after the action (on, off, paused, unknown).
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules put DOCUMENTATION first


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "settings": {"type": "dict", "required": True},
            "state": {
                "type": "str",
                "required": True,
                "choices": ["on", "off", "cycled", "paused", "resumed", "status"],
            },
        },
        supports_check_mode=True,
    )
    try:
        from swaplab.drivers import power_driver
    except ImportError:
        module.fail_json(msg="the swaplab package is not importable by the controller's Python")
    try:
        drv = power_driver(module.params["settings"])
        before = drv.status().value
        want = module.params["state"]
        changed = {
            "on": before != "on",
            "off": before != "off",
            "cycled": True,
            "paused": before != "paused",
            "resumed": before == "paused",
            "status": False,
        }[want]
        if changed and not module.check_mode:
            action = {"on": drv.on, "off": drv.off, "cycled": drv.cycle, "paused": drv.pause, "resumed": drv.resume}[
                want
            ]
            action()
        module.exit_json(changed=changed, power=drv.status().value, before=before)
    except Exception as e:  # every driver error becomes this task's failure, with its text
        module.fail_json(msg=f"power driver error: {e}")


if __name__ == "__main__":
    main()
