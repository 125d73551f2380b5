"""Where swaplab's files are: what it ships (``SHARE``) and where it works (``HOME``).

``SHARE`` holds what a run reads and never writes: the playbooks, roles and modules, ``ansible.cfg``, the
fleet suites (``tests/fleet``) and the example inventories. In a checkout it is the checkout; in an
installed wheel it is the package's ``_share`` directory, which the wheel's build fills from the checkout
(``setup.py``), with the commit it was built from (``COMMIT``).

``HOME`` is where a run writes: ``reports/``, ``.cache/`` (the lab's images, kernel packages and builds)
and the virtual lab's generated inventory. In a checkout it is the checkout, as it always was; installed,
it is ``$SWAPLAB_HOME``, else the directory swaplab was started in (a Jenkins job's workspace).

At the ground floor, so that the options, the provisioning and the lab all read it from one place
without importing each other.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_INSTALLED = PACKAGE / "_share"
INSTALLED = (_INSTALLED / "playbooks").is_dir()
SHARE = _INSTALLED if INSTALLED else PACKAGE.parent
HOME = Path(os.environ.get("SWAPLAB_HOME") or (Path.cwd() if INSTALLED else SHARE)).resolve()
ROOT = SHARE  # the checkout, for code that predates the split (bench scripts, tests)
VIRTUAL_INVENTORY = HOME / "inventories" / "virtual" / "hosts.yml"


def built_commit() -> str | None:
    """The commit an installed wheel was built from (its ``_share/COMMIT``), or None in a checkout."""
    try:
        text = (_INSTALLED / "COMMIT").read_text()[:64].strip()
    except OSError:
        return None
    return text if text and all(c in "0123456789abcdef+dirty-" for c in text) else None


def commit() -> str:
    """The commit this swaplab is: the wheel's, or the checkout's HEAD (``-dirty`` with tracked changes)."""
    if INSTALLED:
        return built_commit() or "unknown"
    try:
        head = subprocess.run(["git", "-C", str(SHARE), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, check=False, timeout=30).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(SHARE), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=False, timeout=30).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (head or "unknown") + ("-dirty" if head and dirty else "")
