"""Drivers: how swaplab uses a machine's power and console, behind small protocols.

``protocols.py`` says what a driver must do; ``qmpdriver.py`` and
``serialfiledriver.py`` are the virtual lab's implementations. IPMI and
Redfish power, SOL and netconsole consoles implement the same protocols.
"""

from swaplab.drivers.protocols import ConsoleProtocol, PowerProtocol, PowerState

__all__ = ["ConsoleProtocol", "PowerProtocol", "PowerState", "power_driver"]


def power_driver(settings: dict[str, object]) -> PowerProtocol:
    """Build the power driver an inventory's ``swaplab_power`` mapping names."""
    driver = settings.get("driver")
    if driver == "qmp":
        from swaplab.drivers.qmpdriver import QMPPowerDriver

        return QMPPowerDriver(str(settings["socket"]))
    raise ValueError(f"unknown power driver {driver!r} (known: qmp)")
