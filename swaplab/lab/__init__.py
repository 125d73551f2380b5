"""The virtual lab: the rack on one machine (images, switch, NAS and blade VMs, power, consoles)."""
