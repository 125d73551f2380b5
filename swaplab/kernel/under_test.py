"""The kernel under test, in one place: found or fetched once, judged, hashed once, given to Ansible.

`swaplab run`, `swaplab provision` and the Makefile (``python3 -m swaplab.kernel.under_test fetch``) take
it from here, and the kernel role from the variables it gives (``swaplab_kernel``). What a kernel under
test may be: a Debian kernel image package (``.deb``), or a directory holding ``boot/vmlinuz-<release>``
and ``lib/modules/<release>`` (a bzImage and its modules, as ``make install INSTALL_PATH=DIR/boot
modules_install INSTALL_MOD_PATH=DIR`` leave them). A bare bzImage or a config file can be checked
(`swaplab check-kernel`) but cannot boot a blade. Standard library only: the Makefile runs it before
any environment exists.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplab import errors
from swaplab.kernel.check import judge
from swaplab.kernel.sources import KernelUnreadable, load_kernel
from swaplab.repo import HOME

CACHE = HOME / ".cache" / "kernel"  # Debian's stock kernel package, and kernel trees' packed modules
WHAT = "a kernel .deb, or a directory holding boot/vmlinuz-<release> and lib/modules/<release>"
# A release, package name and version from a build farm reach paths, the iPXE script and shells.
RELEASE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}")
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,127}")
VERSION_RE = re.compile(r"[A-Za-z0-9.+~:-]{1,128}")


class KernelError(errors.BadInput):
    """The kernel under test cannot be used (exit 2): the message names the kernel, the problem and the fix."""


@dataclass(frozen=True)
class KernelUnderTest:
    path: Path  # resolved
    kind: str  # deb or tree
    release: str
    sha256: str  # the package's, or a tree's image's (a directory has none)
    package: str | None = None
    version: str | None = None
    tree: dict[str, str] = field(default_factory=dict)  # image, image_sha256, modules, modules_tar

    def ansible_vars(self) -> dict[str, Any]:
        """``swaplab_kernel`` for the plays (and the run's settings)."""
        out: dict[str, Any] = {"kind": self.kind, "path": str(self.path), "release": self.release,
                               "sha256": self.sha256}  # fmt: skip
        if self.kind == "deb":
            out["package"], out["version"] = self.package, self.version
        return {**out, **self.tree}

    def to_json(self) -> dict[str, Any]:
        """As the run's context carries it to the suites (``from_json`` reads it back)."""
        return {"path": str(self.path), "kind": self.kind, "release": self.release, "sha256": self.sha256,
                "package": self.package, "version": self.version, "tree": dict(self.tree)}  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> KernelUnderTest:
        tree = doc.get("tree") or {}
        return cls(Path(str(doc["path"])), str(doc["kind"]), str(doc["release"]), str(doc["sha256"]),
                   None if doc.get("package") is None else str(doc["package"]),
                   None if doc.get("version") is None else str(doc["version"]),
                   {str(k): str(v) for k, v in tree.items()})  # fmt: skip


def missing(path: str | None) -> str:
    """The problem with a --kernel that is not there ("" if it is, or if none was given)."""
    if path is None or Path(path).exists():
        return ""
    return f"kernel {path}: no such file or directory: pass {WHAT}"


def resolve(path: str | None, log: Callable[[str], None]) -> KernelUnderTest:
    """The kernel at ``path`` (Debian's stock package when None), checked fit for swap over NFS; KernelError."""
    kpath = Path(path) if path is not None else stock_deb(log)
    if problem := missing(str(kpath)):
        raise KernelError(problem)
    try:
        info = load_kernel(str(kpath))
    except KernelUnreadable as e:
        raise KernelError(f"kernel under test: {e}") from e
    for what, value, pattern in (("release", info.release, RELEASE_RE), ("package", info.package, PACKAGE_RE),
                                 ("version", info.package_version, VERSION_RE)):  # fmt: skip
        if value is not None and not pattern.fullmatch(value):
            raise KernelError(f"kernel under test {kpath}: its {what} {value!r} is not a plain {what} name: refused")
    verdict = judge(info)
    if not verdict.fit:
        unfit = "; ".join(f"{c.name}: {c.detail} -> {c.fix}" for c in verdict.checks if c.status == "fail")
        raise KernelError(f"kernel under test {kpath} is unfit for swap over NFS: {unfit}")
    resolved = kpath.resolve()
    if info.kind == "deb":
        return KernelUnderTest(resolved, "deb", str(info.release), sha256_file(resolved), info.package,
                               info.package_version)  # fmt: skip
    if info.kind == "tree":
        tree = tree_files(resolved, str(info.release))
        return KernelUnderTest(resolved, "tree", str(info.release), tree["image_sha256"], tree=tree)
    raise KernelError(
        f"kernel under test {kpath}: a {info.kind} alone cannot boot a blade: pass {WHAT} (a bzImage and its "
        f"modules, as `make install INSTALL_PATH=DIR/boot modules_install INSTALL_MOD_PATH=DIR` leave them)"
    )


def tree_files(root: Path, release: str) -> dict[str, str]:
    """A kernel tree's image, modules and the image's sha256 (how the role tells an installed root)."""
    image = root / "boot" / f"vmlinuz-{release}"
    modules = root / "lib" / "modules" / release
    problems = [f"no {p.relative_to(root)}" for p in (image, modules) if not p.exists()]
    if problems:
        raise KernelError(f"kernel under test {root}: {' and '.join(problems)}: a blade needs both")
    return {"image": str(image), "image_sha256": sha256_file(image), "modules": str(modules),
            "modules_tar": str(CACHE / f"tree-{release}-modules.tar.gz")}  # fmt: skip


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stock_deb(log: Callable[[str], None]) -> Path:
    """Debian 12's stock kernel image package, fetched once with apt-get download into ``CACHE``."""
    found = sorted(CACHE.glob("linux-image-*.deb"))
    if found:
        return found[-1]
    CACHE.mkdir(parents=True, exist_ok=True)
    dep = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=False)
    pkg = next((w.split()[-1] for w in dep.stdout.splitlines() if "Depends: linux-image-" in w), None)
    if pkg is None:
        raise KernelError("cannot find Debian's stock kernel package: run `apt-get update`, or pass --kernel")
    log(f"fetching Debian's stock kernel package {pkg}")
    r = subprocess.run(["apt-get", "download", pkg], cwd=CACHE, capture_output=True, text=True, check=False)
    found = sorted(CACHE.glob("linux-image-*.deb"))
    if r.returncode != 0 or not found:
        raise KernelError(f"apt-get download {pkg} failed: {r.stderr.strip()[:300]}")
    return found[-1]


def main(argv: list[str]) -> int:
    """``fetch``: Debian's stock kernel package into the cache, its path printed (the Makefile's kernel-deb)."""
    if argv != ["fetch"]:
        print("usage: python3 -m swaplab.kernel.under_test fetch", file=sys.stderr)
        return 2
    try:
        print(stock_deb(lambda m: print(m, file=sys.stderr)))
    except KernelError as e:
        print(f"swaplab: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
