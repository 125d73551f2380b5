"""A kernel's git tree, read only: commits resolved, and the next commit a bisection should test.

Nothing here writes to the user's repository (no ``git bisect start``, no checkout, no worktree): the
bisection's state lives in its own run directory, and the next commit is chosen the way ``git bisect``
chooses it, by ``git rev-list --bisect-all`` (each candidate with its distance; the best first), minus the
commits skipped. Every git call is bounded in time and its output in size.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from swaplab import errors

GIT_TIMEOUT_S = 120.0
MAX_OUTPUT = 64 << 20  # rev-list of a kernel range: 41 bytes a commit; a million commits fit
SHA_RE = re.compile(r"[0-9a-f]{40}")
REV_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@^~+-]{0,199}")  # a ref, a sha, HEAD~3, v6.1^: never an option


class TreeError(errors.BadInput):
    """The tree or a revision given is not what a bisection needs."""


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:12]


class GitTree:
    """A git work tree (or bare repository) at ``path``, asked through git itself."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def git(self, *args: str, timeout: float = GIT_TIMEOUT_S) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # no inherited repo or index
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        try:
            r = subprocess.run(["git", "-C", str(self.path), "--no-pager", *args], capture_output=True,
                               timeout=timeout, check=False, env=env)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise TreeError(f"{self.path}: git {args[0]} took over {timeout:.0f} s") from None
        except OSError as e:
            raise TreeError(f"git cannot be run ({e.strerror}): install git") from None
        out = r.stdout[:MAX_OUTPUT].decode(errors="replace")
        if r.returncode != 0:
            err = r.stderr[-2000:].decode(errors="replace").strip().splitlines()
            raise TreeError(f"{self.path}: git {' '.join(args[:2])}: {err[-1] if err else f'exit {r.returncode}'}")
        return out

    def check(self) -> list[str]:
        """What stops this path from being bisected (empty: it can be)."""
        if not self.path.is_dir():
            return [f"{self.path}: no such directory: give a kernel's git tree"]
        try:
            inside = self.git("rev-parse", "--is-inside-work-tree", "--is-bare-repository").split()
        except TreeError:
            return [f"{self.path}: not a git repository: a bisection needs the tree's history (git clone it)"]
        return [] if "true" in inside else [f"{self.path}: not a git repository"]

    def resolve(self, rev: str) -> str:
        if not REV_RE.fullmatch(rev):
            raise TreeError(f"{rev!r} is not a revision: give a commit, a tag or a branch")
        try:
            return self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
        except TreeError:
            raise TreeError(f"{self.path}: no commit {rev!r} in this tree") from None

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", older, newer)
        except TreeError:
            return False
        return True

    def commit(self, sha: str) -> Commit:
        return Commit(sha, self.git("log", "-1", "--format=%s", sha).strip()[:200])

    def parents(self, sha: str) -> list[str]:
        return self.git("rev-list", "--parents", "-n", "1", sha).split()[1:]

    def candidates(self, bad: str, goods: list[str]) -> list[str]:
        """The commits that may be the first bad one: reachable from ``bad``, from no good one (``bad`` too)."""
        return SHA_RE.findall(self.git("rev-list", bad, "--not", *goods))

    def next_to_test(self, bad: str, goods: list[str], skipped: set[str]) -> str | None:
        """The commit ``git bisect`` would test next, passing over the skipped ones; None when no candidate
        but ``bad`` and skipped ones remain (the first bad commit is then found, or is one of those)."""
        for line in self.git("rev-list", "--bisect-all", bad, "--not", *goods).splitlines():
            sha = line[:40]
            if SHA_RE.fullmatch(sha) and sha != bad and sha not in skipped:
                return sha
        return None
