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
    description:
      - The machine's C(swaplab_power) mapping (C(driver) and its settings). The password is
        no_log, so Ansible masks it in every result and event.
    type: dict
    required: true
    suboptions:
      driver:
        description: "The driver (qmp, ipmi or redfish)."
        type: str
        required: true
      socket:
        description: "qmp: the QEMU QMP socket."
        type: str
      host:
        description: "ipmi: the BMC's address."
        type: str
      port:
        description: "ipmi: the BMC's UDP port."
        type: int
      cipher_suite:
        description: "ipmi: the RMCP+ cipher suite."
        type: int
      url:
        description: "redfish: the BMC's https URL."
        type: str
      verify:
        description: "redfish: true, false, or the path of a CA bundle."
        type: raw
      system:
        description: "redfish: the system's id."
        type: str
      user:
        description: "The BMC user."
        type: str
      password:
        description: "The BMC password (no_log)."
        type: str
  state:
    description:
      - on, off, cycled (off then on, always changes), paused, resumed, status (read only), or
        check (the driver accepts the settings and answers; read only, used before anything acts).
    type: str
    required: true
    choices: [on, off, cycled, paused, resumed, status, check]
  wave:
    description:
      - Power-on waves (on, cycled) - at most this many blades of the controller are in PXE at once; each
        power-on waits for a place in the wave and keeps it I(pxe_s) seconds. 0 (the default) turns waves off.
    type: int
    default: 0
  pxe_s:
    description: "Seconds a blade spends in PXE after power-on (DHCP, iPXE, kernel and initrd), for I(wave)."
    type: float
    default: 8
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
wave_wait_s:
  description: Seconds the power-on waited for its place in a wave.
  type: float
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules put DOCUMENTATION first


def main() -> None:
    settings_spec = {
        "driver": {"type": "str", "required": True},
        "socket": {"type": "str"},
        "host": {"type": "str"},
        "port": {"type": "int"},
        "cipher_suite": {"type": "int"},
        "url": {"type": "str"},
        "verify": {"type": "raw"},
        "system": {"type": "str"},
        "user": {"type": "str"},
        "password": {"type": "str", "no_log": True},
    }
    module = AnsibleModule(
        argument_spec={
            "settings": {"type": "dict", "required": True, "options": settings_spec},
            "state": {
                "type": "str",
                "required": True,
                "choices": ["on", "off", "cycled", "paused", "resumed", "status", "check"],
            },
            "wave": {"type": "int", "default": 0},
            "pxe_s": {"type": "float", "default": 8.0},
        },
        supports_check_mode=True,
    )
    try:
        from swaplab.drivers import power_driver
        from swaplab.drivers.bmcturn import pxe_wave
        from swaplab.drivers.protocols import NOT_PAUSABLE, PausableProtocol
    except ImportError:
        module.fail_json(msg="the swaplab package is not importable by the controller's Python")
    settings = {k: v for k, v in module.params["settings"].items() if v is not None}
    try:
        drv = power_driver(settings)
        before = drv.status().value
        want = module.params["state"]
        if want == "check":
            module.exit_json(changed=False, power=before, before=before)
        changed = {
            "on": before != "on",
            "off": before != "off",
            "cycled": True,
            "paused": before != "paused",
            "resumed": before == "paused",
            "status": False,
        }[want]  # fmt: skip
        waited = 0.0
        if want in ("paused", "resumed") and not isinstance(drv, PausableProtocol):
            module.fail_json(msg=f"power driver error: {NOT_PAUSABLE}")
        if changed and not module.check_mode:
            actions = {"on": drv.on, "off": drv.off, "cycled": drv.cycle}
            if isinstance(drv, PausableProtocol):
                actions |= {"paused": drv.pause, "resumed": drv.resume}
            action = actions[want]
            if want in ("on", "cycled"):
                with pxe_wave(module.params["wave"], module.params["pxe_s"]) as waited:
                    action()
            else:
                action()
        module.exit_json(changed=changed, power=drv.status().value, before=before, wave_wait_s=round(waited, 1))
    except Exception as e:  # every driver error becomes this task's failure, with its text
        module.fail_json(msg=f"power driver error: {e}")


if __name__ == "__main__":
    main()
