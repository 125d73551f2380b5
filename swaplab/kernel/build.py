"""A kernel from its source tree: a scratch copy at a commit, a patch series applied, a config that fits
the blades, built into a Debian package by ``make bindeb-pkg``, and cached.

The user's tree is only read. A git tree gets one scratch clone (``git clone --shared``: its objects
borrowed, nothing copied), checked out at each commit with ``--force``; the build happens in place, so a
one-commit change rebuilds only what that commit touched (make's own dependencies). An unpacked tree
(Debian's ``linux-source-6.1``) is copied once per content. A patch series (a quilt ``series`` file, a
directory of ``*.patch``, or one mbox) is applied onto the scratch copy, ``git am`` for an mbox, else
``git apply`` patch by patch; a patch that does not apply is bad input naming it, before anything is
built. Packages are cached by (the tree's commit or content, the series, the config): an unchanged input
is never built twice.

``make bindeb-pkg`` rather than tuxmake, by measurement (bench/README.md, 6 December 2026): the same full
build (786 s on two cores), 66 s against tuxmake's 95 s for a one-commit incremental build (its target
runs ``make`` and then ``make bindeb-pkg``), and no stale package beside the new one.

The config: the user's own (``--kconfig``), which must already fit, or the architecture's defconfig with
the options swap over NFS and a diskless blade need (``FRAGMENT``); either is judged by the same rules as
``swaplab check-kernel`` before the build starts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from swaplab import errors, locks
from swaplab.kernel.check import judge
from swaplab.kernel.sources import KernelInfo

Log = Callable[[str], None]
# What a blade of the lab needs on top of x86_64_defconfig: swap over NFS and NBD, a diskless boot from an
# initramfs, virtio's NIC, the detectors the health suite reads, no debug info (a quarter of the build).
FRAGMENT = """\
CONFIG_SWAP=y
CONFIG_NFS_FS=y
CONFIG_NFS_V3=y
CONFIG_NFS_V4=y
CONFIG_NFS_SWAP=y
CONFIG_ROOT_NFS=y
CONFIG_IP_PNP=y
CONFIG_IP_PNP_DHCP=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_BLK_DEV_NBD=m
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
CONFIG_DETECT_HUNG_TASK=y
CONFIG_SOFTLOCKUP_DETECTOR=y
CONFIG_HARDLOCKUP_DETECTOR=y
CONFIG_MAGIC_SYSRQ=y
CONFIG_IKCONFIG=y
CONFIG_IKCONFIG_PROC=y
CONFIG_MODULES=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
# CONFIG_ZSWAP_DEFAULT_ON is not set
# CONFIG_LOCALVERSION_AUTO is not set
CONFIG_DEBUG_INFO_NONE=y
"""
LOCALVERSION = "-swaplab"  # the same for every commit: a new one would rebuild every module
DEB_VERSION_RE = re.compile(r"[0-9][A-Za-z0-9.+~-]*")
BUILD_TIMEOUT_S = 6 * 3600
CMD_TIMEOUT_S = 600
PATCH_NAME_RE = re.compile(r"[A-Za-z0-9._+-][A-Za-z0-9._+/-]{0,199}")
KERNEL_MARKERS = ("Makefile", "Kconfig", "arch/x86/Kconfig", "scripts/kconfig")


class BuildInputError(errors.BadInput):
    """The tree, the patch series or the config cannot make a kernel for the blades."""


class BuildFailed(errors.Infrastructure):
    """The build itself failed (a bisection skips such a commit: never bad)."""


@dataclass(frozen=True)
class TreeInput:
    tree: Path
    commit: str | None = None  # a git tree's commit (resolved); None: the tree as it is
    patches: Path | None = None
    kconfig: Path | None = None

    def problems(self) -> list[str]:
        """What stops this input from being built, all at once (empty: nothing)."""
        out = []
        if ".." in self.tree.parts:
            out.append(f"{self.tree}: give the tree's path without '..' (its real path)")
        elif not self.tree.is_dir():
            out.append(f"{self.tree}: no such directory")
        elif missing := [m for m in KERNEL_MARKERS if not (self.tree / m).exists()]:
            out.append(f"{self.tree}: not a Linux source tree (no {', '.join(missing)})")
        if self.patches is not None:
            out += [f"--patches {p}" for p in series_problems(self.patches)]
        if self.kconfig is not None:
            out += kconfig_problems(self.kconfig)
        return out


def is_source_tree(path: str | None) -> bool:
    """Is ``--kernel``'s path a kernel source tree to build (not a package, nor an installed tree)?"""
    return path is not None and Path(path).is_dir() and all((Path(path) / m).exists() for m in KERNEL_MARKERS)


def source_input(tree: Path, patches: Path | None, kconfig: Path | None, log: Log) -> TreeInput:
    """``--kernel SOURCE_TREE`` as a build input: a git work tree without uncommitted changes by its HEAD
    commit (a one-commit change then rebuilds incrementally); anything else by its content."""
    if (tree / ".git").exists():
        try:
            head = _run(["git", "rev-parse", "--verify", "HEAD^{commit}"], tree, "reading the tree's HEAD").strip()
            dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], tree, "git status").strip()
        except BuildFailed:
            head, dirty = "", "?"
        if head and not dirty:
            return TreeInput(tree, head, patches, kconfig)
        log(f"{tree}: uncommitted changes: built as it is, by its content (a commit builds incrementally)")
    return TreeInput(tree, None, patches, kconfig)


def source_record(inp: TreeInput, built: Built) -> dict[str, object]:
    """What results.json, JUnit and the history keep of a kernel built from its tree."""
    patches = [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
               for p in (series(inp.patches) if inp.patches else [])]  # fmt: skip
    config = (f"--kconfig {inp.kconfig.name} (sha256 {hashlib.sha256(inp.kconfig.read_bytes()).hexdigest()[:16]})"
              if inp.kconfig else "x86_64_defconfig + swaplab's fragment")  # fmt: skip
    return {"tree": str(inp.tree), "commit": inp.commit, "patches": patches, "config": config, "build_key": built.key,
            "built_s": round(built.seconds, 1), "cached": built.cached}  # fmt: skip


def series_problems(path: Path) -> list[str]:
    if ".." in path.parts:
        return [f"{path}: give the path without '..'"]
    if not path.exists():
        return [f"{path}: no such file or directory"]
    try:
        patches = series(path)
    except BuildInputError as e:
        return [str(e)]
    return [] if patches else [f"{path}: no patch in it"]


def series(path: Path) -> list[Path]:
    """The patches of a series, in order: an mbox or a single patch file; a directory's ``series`` file
    (quilt's, ``#`` comments and options after the name allowed); else its ``*.patch`` in name order."""
    if path.is_file():
        return [path]
    listing = path / "series"
    if not listing.is_file():
        return sorted(p for p in path.glob("*.patch") if p.is_file())
    out = []
    for line in listing.read_text(errors="replace").splitlines()[:10000]:
        name = line.split("#", 1)[0].split()
        if not name:
            continue
        if not PATCH_NAME_RE.fullmatch(name[0]) or ".." in Path(name[0]).parts:
            raise BuildInputError(f"{listing}: {name[0][:80]!r} is not a patch name inside the series' directory")
        if not (path / name[0]).is_file():
            raise BuildInputError(f"{listing} names {name[0]}, which is not in {path}")
        out.append(path / name[0])
    return out


def config_fit_problems(text: str, where: str) -> list[str]:
    verdict = judge(KernelInfo(where, "config", None, text))
    return [f"{where}: {c.name}: {c.detail}" + (f" ({c.fix})" if c.fix else "")
            for c in verdict.checks if c.status == "fail"]  # fmt: skip


def kconfig_problems(path: Path) -> list[str]:
    if ".." in path.parts:
        return [f"--kconfig {path}: give the path without '..'"]
    try:
        text = path.read_text(errors="replace")[: 8 << 20]
    except OSError as e:
        return [f"--kconfig {path}: cannot read it ({e.strerror})"]
    return config_fit_problems(text, f"--kconfig {path}")


@dataclass(frozen=True)
class Built:
    deb: Path
    key: str
    cached: bool
    seconds: float
    log: Path | None


def _run(argv: list[str], cwd: Path, what: str, timeout: float = CMD_TIMEOUT_S, bad_input: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(LC_ALL="C", GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               GIT_AUTHOR_NAME="swaplab", GIT_AUTHOR_EMAIL="swaplab@localhost",
               GIT_COMMITTER_NAME="swaplab", GIT_COMMITTER_EMAIL="swaplab@localhost")  # fmt: skip
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        raise BuildFailed(f"{what}: took over {timeout:.0f} s") from None
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        exc = BuildInputError if bad_input else BuildFailed
        raise exc(f"{what}: {' / '.join(tail) or f'exit {r.returncode}'}")
    return r.stdout


def input_key(inp: TreeInput) -> str:
    """The cache key: the tree's commit (or, unpacked, its listing: names, sizes, times), the series' bytes,
    the config's bytes (or the fragment's)."""
    h = hashlib.sha256()
    if inp.commit:
        h.update(f"commit {inp.commit}\n".encode())
    else:
        for root, dirs, files in os.walk(inp.tree):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for f in sorted(files):
                st = os.lstat(os.path.join(root, f))
                h.update(f"{os.path.relpath(os.path.join(root, f), inp.tree)} {st.st_size} {st.st_mtime_ns}\n".encode())
    for p in series(inp.patches) if inp.patches else []:
        h.update(hashlib.sha256(p.read_bytes()).digest())
    # A user's config is used as it is; the fragment goes on top of defconfig: never the same key.
    h.update(b"kconfig\n" + inp.kconfig.read_bytes() if inp.kconfig else b"defconfig+fragment\n" + FRAGMENT.encode())
    return h.hexdigest()[:24]


def prepare(inp: TreeInput, scratch_root: Path, log: Log) -> Path:
    """The scratch tree at the input's commit with its series applied (BuildInputError if one does not apply)."""
    ident = hashlib.sha256(str(inp.tree.resolve()).encode()).hexdigest()[:16]
    if inp.commit:
        scratch = scratch_root / f"git-{ident}"
        if not (scratch / ".git").is_dir():
            shutil.rmtree(scratch, ignore_errors=True)
            scratch_root.mkdir(parents=True, exist_ok=True)
            _run(["git", "clone", "-q", "--shared", "--no-checkout", str(inp.tree.resolve()), str(scratch)],
                 scratch_root, "cloning the tree")  # fmt: skip
        if (scratch / ".git" / "rebase-apply").exists():  # a series that failed last time
            _run(["git", "am", "--abort"], scratch, "git am --abort")
        _run(["git", "checkout", "-q", "--force", "--detach", inp.commit], scratch, f"checking out {inp.commit[:12]}")
        for patch in series(inp.patches) if inp.patches else []:
            apply(scratch, patch, git_tree=True)
        return scratch
    scratch = scratch_root / f"src-{ident}-{input_key(inp)[:12]}"  # one copy per content and series
    if not scratch.is_dir():
        log(f"copying {inp.tree} into {scratch} (once for this content and series)")
        partial = scratch.with_suffix(".tmp")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(inp.tree, partial, symlinks=True)
        for patch in series(inp.patches) if inp.patches else []:
            apply(partial, patch, git_tree=False)
        partial.rename(scratch)
    return scratch


def apply(scratch: Path, patch: Path, git_tree: bool) -> None:
    """One patch onto the scratch tree; in a git tree as a commit of its own (``git am`` for an mbox), so
    that the next checkout takes it away whole, files it added included."""
    mbox = patch.read_bytes()[:5].startswith(b"From ")
    what = f"the patch {patch.name} does not apply"
    if git_tree and mbox:
        try:
            _run(["git", "am", "-q", "--3way", str(patch.resolve())], scratch, f"{what} (git am)", bad_input=True)
        except BuildInputError:
            _run(["git", "am", "--abort"], scratch, "git am --abort")
            raise
        return
    _run(["git", "apply", *(["--index"] if git_tree else []), str(patch.resolve())], scratch,
         f"{what} (git apply)", bad_input=True)  # fmt: skip
    if git_tree:
        _run(["git", "commit", "-q", "--no-verify", "-m", f"swaplab: {patch.name}"], scratch, "committing a patch")


def configure(scratch: Path, kconfig: Path | None, jobs: int) -> None:
    if kconfig is not None:
        shutil.copyfile(kconfig, scratch / ".config")
    else:
        _run(["make", f"-j{jobs}", "x86_64_defconfig"], scratch, "make x86_64_defconfig")
        (scratch / "swaplab.config").write_text(FRAGMENT)
        _run(["scripts/kconfig/merge_config.sh", "-m", ".config", "swaplab.config"], scratch, "merging the fragment")
    _run(["make", "olddefconfig"], scratch, "make olddefconfig")
    text = (scratch / ".config").read_text(errors="replace")
    if problems := config_fit_problems(text, "the resolved config"):
        raise BuildInputError("; ".join(problems))
    if kconfig is None:
        missing = [line for line in FRAGMENT.splitlines() if line.endswith(("=y", "=m")) and line not in text]
        if missing:
            raise BuildInputError(f"the tree's Kconfig does not allow {', '.join(missing)}: give --kconfig")


def package_version(key: str) -> str:
    """The package's Debian version: one per input. Every commit's kernel has the same release
    (LOCALVERSION), and provisioning installs a package only into roots that lack its version: with one
    version for all, a bisection's second step would have tested the first step's kernel again."""
    return f"1+{key[:16]}"


def build(inp: TreeInput, cache: Path, out_dir: Path, log: Log, jobs: int | None = None) -> Built:
    """The input built into a linux-image package (from the cache when built before)."""
    if problems := inp.problems():
        raise BuildInputError("; ".join(problems))
    key = input_key(inp)
    done = cache / "debs" / key
    if (deb := _cached(done)) is not None:
        log(f"kernel build {key}: cached ({deb.name})")
        return Built(deb, key, True, 0.0, None)
    # One build at a time in a cache (a bisection's groups build their commits in turn; so do two
    # bisections sharing it): the scratch trees are shared, and a build may have made this package meanwhile.
    with locks.turn(cache / "build.lock", "kernel build", log, BUILD_TIMEOUT_S):
        if (deb := _cached(done)) is not None:
            log(f"kernel build {key}: built meanwhile ({deb.name})")
            return Built(deb, key, True, 0.0, None)
        return _build(inp, key, done, cache, out_dir, log, jobs or os.cpu_count() or 1)


def _cached(done: Path) -> Path | None:
    """The package an input's cache directory holds, if it was built before."""
    found = sorted(done.glob("linux-image-*.deb")) if done.is_dir() else []
    return found[0] if found else None


def _build(inp: TreeInput, key: str, done: Path, cache: Path, out_dir: Path, log: Log, jobs: int) -> Built:
    t0 = time.monotonic()
    scratch = prepare(inp, cache / "trees", log)
    configure(scratch, inp.kconfig, jobs)
    out_dir.mkdir(parents=True, exist_ok=True)
    build_log = out_dir / "build.log"
    for old in scratch.parent.glob("linux-*.deb"):
        old.unlink()
    log(f"kernel build {key}: make -j{jobs} bindeb-pkg (the log: {build_log})")
    with build_log.open("w") as f:
        argv = [
            "make",
            f"-j{jobs}",
            "bindeb-pkg",
            f"LOCALVERSION={LOCALVERSION}",
            f"KDEB_PKGVERSION={package_version(key)}",
        ]
        proc = subprocess.Popen(argv, cwd=scratch, stdout=f, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BuildFailed(f"the kernel build took over {BUILD_TIMEOUT_S} s: see {build_log}") from None
    if rc != 0:
        raise BuildFailed(f"the kernel build failed (make exit {rc}): see {build_log}")
    images = [p for p in scratch.parent.glob("linux-image-*.deb") if "-dbg" not in p.name]
    if not images:
        raise BuildFailed(f"make bindeb-pkg made no linux-image package: see {build_log}")
    done.mkdir(parents=True, exist_ok=True)
    deb = done / images[0].name
    shutil.move(images[0], deb)
    seconds = time.monotonic() - t0
    log(f"kernel build {key}: {deb.name} in {seconds:.0f} s")
    return Built(deb, key, False, seconds, build_log)
