#!/usr/bin/env python3
"""How to build a kernel tree into a Debian package: swaplab's own ``make bindeb-pkg`` (in place, in a
shared clone) against tuxmake's ``bindeb-pkg`` target on the host's compiler (``--runtime null``, out of
tree in a kept ``--build-dir``), the same tree, the same config (x86_64_defconfig plus
``swaplab.kernel.build.FRAGMENT``), the same jobs: a full build at one commit, then the incremental
build of the next commit, each timed, each package's size and the kernel's config option checked.

    python bench/bench_kernel_build.py [--tree .cache/bisect-demo/linux] [--from HEAD~1] [--to HEAD]
                                       [--tuxmake PATH] [--only swaplab|tuxmake]

tuxmake is not a dependency of swaplab: give its executable (``pip install tuxmake`` in a venv of its
own). Work directories go under .cache/build-bench (a tool's removed before it builds again; some 6 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swaplab.kernel import build as kbuild  # noqa: E402

WORK = ROOT / ".cache" / "build-bench"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def swaplab_builds(tree: Path, commits: list[str], jobs: int) -> list[dict[str, object]]:
    cache = WORK / "swaplab-cache"
    out = []
    for commit in commits:
        t0 = time.monotonic()
        built = kbuild.build(kbuild.TreeInput(tree, commit), cache, WORK / "swaplab-out" / commit[:12], print, jobs)
        out.append({"commit": commit[:12], "seconds": round(time.monotonic() - t0, 1), "deb": str(built.deb),
                    "deb_bytes": built.deb.stat().st_size})  # fmt: skip
    return out


def tuxmake_builds(tuxmake: str, tree: Path, commits: list[str], jobs: int) -> list[dict[str, object]]:
    src = WORK / "tuxmake-src"
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(tree), str(src)], check=True)
    fragment = WORK / "swaplab.config"
    fragment.write_text(kbuild.FRAGMENT)
    out = []
    for commit in commits:
        git(src, "checkout", "-q", "--force", commit)
        outdir = WORK / "tuxmake-out" / commit[:12]
        outdir.parent.mkdir(parents=True, exist_ok=True)
        argv = [tuxmake, "--runtime", "null", "--target-arch", "x86_64", "--toolchain", "gcc",
                "--kconfig", "x86_64_defconfig", "--kconfig-add", str(fragment),
                "--build-dir", str(WORK / "tuxmake-build"), "--output-dir", str(outdir), "--jobs", str(jobs),
                "-C", str(src), f"LOCALVERSION={kbuild.LOCALVERSION}",
                f"KDEB_PKGVERSION={kbuild.package_version(commit)}", "bindeb-pkg"]  # fmt: skip
        t0 = time.monotonic()
        with (WORK / f"tuxmake-{commit[:12]}.log").open("w") as log:
            rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        seconds = time.monotonic() - t0
        debs = [p for p in outdir.glob("linux-image-*.deb") if "-dbg" not in p.name]
        out.append({"commit": commit[:12], "seconds": round(seconds, 1), "exit": rc,
                    "deb": str(debs[0]) if debs else None,
                    "deb_bytes": debs[0].stat().st_size if debs else 0})  # fmt: skip
    return out


def config_of(deb: str | None) -> dict[str, bool]:
    """Whether the package's kernel has the options swap over NFS needs (read from its /boot/config-*)."""
    if not deb:
        return {}
    tmp = WORK / "unpack"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", deb, str(tmp)], check=True)
    text = "".join(p.read_text(errors="replace") for p in (tmp / "boot").glob("config-*"))
    return {opt: f"{opt}=y" in text for opt in ("CONFIG_NFS_SWAP", "CONFIG_SWAP", "CONFIG_ROOT_NFS")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=ROOT / ".cache" / "bisect-demo" / "linux")
    ap.add_argument("--from", dest="first", default="HEAD~1")
    ap.add_argument("--to", dest="second", default="HEAD")
    ap.add_argument("--tuxmake", default=shutil.which("tuxmake") or "")
    ap.add_argument("--only", choices=("swaplab", "tuxmake"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    tree = a.tree.resolve()
    commits = [git(tree, "rev-parse", "--verify", f"{c}^{{commit}}") for c in (a.first, a.second)]
    if a.only != "swaplab" and not a.tuxmake:
        print("no tuxmake: give --tuxmake PATH (pip install tuxmake in a venv of its own), or --only swaplab")
        return 2
    for tool in ("swaplab", "tuxmake"):
        if a.only in (None, tool):  # the other tool's builds and figures are kept
            for old in WORK.glob(f"{tool}*"):
                shutil.rmtree(old) if old.is_dir() else old.unlink()
    WORK.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"tree": str(tree), "commits": [c[:12] for c in commits], "jobs": a.jobs}
    if a.only != "tuxmake":
        rows = swaplab_builds(tree, commits, a.jobs)
        result["swaplab"] = rows
        result["swaplab_config"] = config_of(str(rows[-1]["deb"]))
        print(json.dumps(rows, indent=1), flush=True)
    if a.only != "swaplab":
        version = subprocess.run([a.tuxmake, "--version"], capture_output=True, text=True, check=False).stdout
        result["tuxmake_version"] = version.strip()
        rows = tuxmake_builds(a.tuxmake, tree, commits, a.jobs)
        result["tuxmake"] = rows
        result["tuxmake_config"] = config_of(rows[-1]["deb"])  # type: ignore[arg-type]
        print(json.dumps(rows, indent=1), flush=True)
    (WORK / f"result-{a.only or 'both'}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
