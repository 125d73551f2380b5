"""Where swaplab's own files are: the checkout whose playbooks, roles and inventories a run uses.

At the ground floor, so that the options, the provisioning and the lab all read it from one place
without importing each other."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
