#!/usr/bin/env python3
"""A real bisection on the virtual lab: Debian's linux-source-6.1 made into a git repository with a series
of eight commits, one of which breaks swap over NFS (``--mode break``, the default: one write in 16 fails
with EIO in ``nfs_swap_rw``, judged by the hog case) or slows it (``--mode slow``: every write paced,
judged by the NFS/NBD ratio), then ``swaplab bisect`` from the base to the last commit. ``make
bisect-demo`` runs it (outside CI: the first build takes some 13 minutes on two cores, each step a few).

    python bench/bisect_demo.py [--mode break|slow] [--culprit 5] [--gate 1.6] [-- RUN_ARG...]

The repository is made once in .cache/bisect-demo/linux (a second call reuses it); the bisection's
directory (its report.md, with every step's build and test times) is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".cache" / "bisect-demo"
SOURCE = Path("/usr/src/linux-source-6.1.tar.xz")
GIT_ENV = {"GIT_AUTHOR_NAME": "swaplab demo", "GIT_AUTHOR_EMAIL": "demo@localhost",
           "GIT_COMMITTER_NAME": "swaplab demo", "GIT_COMMITTER_EMAIL": "demo@localhost"}  # fmt: skip
# Every page written to swap over NFS waits 1-1.25 ms first (6.1 batches up to 32 pages a call). A 2x trial
# of a 192 MiB blade writes some 60k pages to swap: about a minute more on a trial of 40-50 s. Tried first
# on 2026-12-06: 200-250 us a page was lost in two pairs' noise; 2-2.5 ms a page at 1.25x gave a bad end
# of ratio 2.49 with NBD trials from 12 to 38 s (1.25x trials are short and noisy; 2x pairs agree within
# some 10%).
# Or broken: one swap write over NFS in 16 fails with EIO. The kernel says "Write error -5 on dio swapfile"
# and writes the pages again later (mm/page_io.c's sio_write_complete); swaplab's detectors call it a swap
# I/O error, and the hog case fails: a verdict without noise, one pair a step.
FAILING_WRITE = """\telse {
\t\tstatic atomic_t swap_writes;

\t\t/* the regression the demo bisects: one swap write over NFS in 16 fails */
\t\tif (atomic_inc_return(&swap_writes) % 16 == 0)
\t\t\treturn -EIO;
\t\tret = nfs_file_direct_write(iocb, iter, true);
\t}
"""
SLOW_WRITE = """\telse {
\t\t/* the regression the demo bisects: swap writes over NFS paced, per page */
\t\tsize_t pages = iov_iter_count(iter) >> PAGE_SHIFT;

\t\tusleep_range(1000 * pages, 1250 * pages);
\t\tret = nfs_file_direct_write(iocb, iter, true);
\t}
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def harmless(repo: Path, i: int) -> str:
    """A commit that changes nothing the blades run: a comment in the NFS client."""
    path = repo / "fs" / "nfs" / "file.c"
    path.write_text(path.read_text() + f"\n/* swaplab bisect demo: harmless change {i} */\n")
    return f"nfs: harmless change {i}"


def culprit(repo: Path, mode: str) -> str:
    """Swap writes over NFS slowed or failing: ``nfs_swap_rw`` (fs/nfs/direct.c), its write branch."""
    path = repo / "fs" / "nfs" / "direct.c"
    text = path.read_text()
    anchor = "\telse\n\t\tret = nfs_file_direct_write(iocb, iter, true);\n"
    if anchor not in text:
        raise SystemExit(f"{path}: no swap write path to change (nfs_swap_rw's write branch not found)")
    text = text.replace(anchor, SLOW_WRITE if mode == "slow" else FAILING_WRITE, 1)
    if mode == "slow":
        text = text.replace("#include <linux/module.h>\n", "#include <linux/module.h>\n#include <linux/delay.h>\n", 1)
    path.write_text(text)
    return "nfs: pace swap writes (slows swap over NFS)" if mode == "slow" else "nfs: swap write fast path (breaks it)"


def make_series(repo: Path, base: str, commits: int, bad_at: int, mode: str) -> tuple[str, str]:
    """The series on ``base``: ``commits`` commits, the ``bad_at``-th the culprit; (base, tip)."""
    git(repo, "checkout", "-q", "--force", "-B", "main", base)
    for i in range(1, commits + 1):
        message = culprit(repo, mode) if i == bad_at else harmless(repo, i)
        git(repo, "commit", "-q", "-am", message)
    return base, git(repo, "rev-parse", "HEAD").strip()


def make_repo(commits: int, bad_at: int, mode: str) -> tuple[Path, str, str]:
    """The demo tree, made once; its series made again on the same base when the culprit or the series'
    length changed (the base's 80,000 files are committed once, and the build cache keeps its tree)."""
    repo = WORK / "linux"
    if (repo / ".git").is_dir():
        shas = git(repo, "rev-list", "--reverse", "HEAD").split()
        direct = git(repo, "show", "HEAD:fs/nfs/direct.c")
        if len(shas) == commits + 1 and (SLOW_WRITE if mode == "slow" else FAILING_WRITE) in direct:
            return repo, shas[0], shas[-1]
        print("the demo series changed: made again on the same base", flush=True)
        return repo, *make_series(repo, shas[0], commits, bad_at, mode)
    if not SOURCE.is_file():
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "linux-source-6.1", "xz-utils"],
                       check=True)  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"unpacking {SOURCE} (once)", flush=True)
    subprocess.run(["tar", "-xJf", str(SOURCE), "-C", str(WORK), "--no-same-owner"], check=True)
    (WORK / SOURCE.name.removesuffix(".tar.xz")).rename(repo)
    # Debian's linux-source appends "ignore everything at the top level" to .gitignore (its packaging's,
    # not the kernel's): without it the tree is tracked as a kernel's git tree would be.
    ignore = repo / ".gitignore"
    text = ignore.read_text()
    if (cut := text.find("\n#\n# Debian packaging")) >= 0:
        ignore.write_text(text[: cut + 1])
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Debian's linux-source-6.1")
    return repo, *make_series(repo, git(repo, "rev-parse", "HEAD").strip(), commits, bad_at, mode)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=8)
    ap.add_argument("--culprit", type=int, default=5, help="which commit of the series slows swap over NFS")
    ap.add_argument("--gate", type=float, default=1.6, help="the ratio gate the bisection judges by: between a good "
                    "commit's ratio (about 1.15 at 2x) and the culprit's (about 2.3)")  # fmt: skip
    ap.add_argument("--mode", choices=("break", "slow"), default="break", help="the culprit fails one swap write "
                    "in 16 (judged by the hog case), or paces every one (judged by the ratio and --gate)")  # fmt: skip
    ap.add_argument("run_args", nargs="*")
    args = ap.parse_args()
    repo, good, bad = make_repo(args.commits, args.culprit, args.mode)
    print(f"the demo tree: {repo}; good {good[:12]}, bad {bad[:12]}", flush=True)
    swaplab = str(ROOT / ".venv" / "bin" / "swaplab")
    judged = ["--gate", str(args.gate), "--max-pairs", "6"] if args.mode == "slow" else ["--case", "hog::test_hog"]
    bisect = [swaplab, "bisect", "--tree", str(repo), "--good", good, "--bad", bad, *judged,
              "--", "--working-set", "2x", *args.run_args]  # fmt: skip
    # The lab up for the whole bisection (each step provisions its kernel onto it), down at the end.
    script = 'ip link set lo up && "$0" lab up && "$0" "$@"; rc=$?; "$0" lab down; exit $rc'
    return subprocess.run(["unshare", "--net", "--", "sh", "-c", script, swaplab, *bisect[1:]],
                          check=False).returncode  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
