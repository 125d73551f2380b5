"""The wheel carries what a run reads besides its code: the playbooks, roles and modules, ``ansible.cfg``, the
fleet suites and the example inventory, copied at build time into ``swaplab/_share`` (``swaplab.repo.SHARE``)
with the commit they were built from. Only files git tracks are taken: no cache, no generated inventory.
The metadata is in pyproject.toml; this file only adds that step to ``build_py``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHARED = ["playbooks", "roles", "plugins", "ansible.cfg", "tests/__init__.py", "tests/fleet", "inventories/lab.example"]


def _git(*args: str) -> str:
    try:
        r = subprocess.run(["git", "-C", str(HERE), *args], capture_output=True, text=True, check=False, timeout=60)
    except OSError:
        return ""
    return r.stdout if r.returncode == 0 else ""


class BuildPyWithShare(build_py):
    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "swaplab" / "_share"
        shutil.rmtree(dest, ignore_errors=True)
        tracked = [f for f in _git("ls-files", "-z", "--", *SHARED).split("\0") if f]
        if not tracked:  # not a git checkout (an sdist): the files as they are
            files = [p for s in SHARED for p in [HERE / s, *sorted((HERE / s).rglob("*"))] if p.is_file()]
            tracked = [str(p.relative_to(HERE)) for p in files if "__pycache__" not in p.parts]
        for rel in tracked:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(HERE / rel, dest / rel)
        head = _git("rev-parse", "--short=12", "HEAD").strip()
        dirty = _git("status", "--porcelain", "--untracked-files=no").strip()
        (dest / "COMMIT").write_text((head or "unknown") + ("-dirty" if head and dirty else "") + "\n")


setup(cmdclass={"build_py": BuildPyWithShare})
