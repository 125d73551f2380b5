"""The bisection's logic against the real git, on small synthetic repositories, with stand-in judges: the
ends first, the search (git's own choice of the next commit), skips, the weak verdict on a noisy ratio,
the confirmation, and a resume after the controller is killed mid-bisection."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from swaplab import errors
from swaplab.bisect import weak
from swaplab.bisect.engine import STATE_FILE, BisectError, Bisection, State, Verdict, start, step_bound
from swaplab.bisect.gittree import GitTree, TreeError

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **GIT_ENV}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env).stdout


def make_repo(path: Path, n: int) -> list[str]:
    """A linear history of ``n`` commits, each adding one line to ``nfs/write.c``; their shas, oldest first."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    shas = []
    for i in range(n):
        f = path / "nfs" / "write.c"
        f.parent.mkdir(exist_ok=True)
        f.write_text((f.read_text() if f.exists() else "") + f"/* change {i} */\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"nfs: change {i}")
        shas.append(git(path, "rev-parse", "HEAD").strip())
    return shas


class StandIn:
    """A judge by a commit's position: bad from ``culprit`` on, skips where asked, and a log of calls."""

    def __init__(self, shas: list[str], culprit: int, skip: set[int] = frozenset(), flaky: set[int] = frozenset()):  # type: ignore[assignment]
        self.pos = {s: i for i, s in enumerate(shas)}
        self.culprit, self.skip, self.flaky = culprit, skip, flaky
        self.calls: list[tuple[int, str]] = []

    def __call__(self, sha: str, index: int, role: str) -> Verdict:
        i = self.pos[sha]
        self.calls.append((i, role))
        if i in self.skip:
            return Verdict("skip", "does not build (stand-in)")
        bad = i >= self.culprit
        if i in self.flaky and role == "confirm-bad":
            bad = not bad
        return Verdict("bad" if bad else "good", f"stand-in: commit {i}")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[GitTree, list[str]]:
    shas = make_repo(tmp_path / "linux", 33)
    return GitTree(tmp_path / "linux"), shas


def bisect(tree: GitTree, shas: list[str], judge: StandIn, tmp_path: Path, good: int = 0, bad: int = -1):  # type: ignore[no-untyped-def]
    state = start(tree, shas[good], shas[bad], "stand-in")
    out = tmp_path / "bisect"
    out.mkdir(parents=True, exist_ok=True)
    return Bisection(tree, state, judge, out, log=lambda _m: None).run(), state


def test_the_first_bad_commit_is_found_and_confirmed_within_the_bound(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree, shas = repo
    for culprit in (1, 7, 16, 31, 32):
        judge = StandIn(shas, culprit)
        outcome, _state = bisect(tree, shas, judge, tmp_path / str(culprit))
        assert outcome.confirmed and outcome.first_bad == shas[culprit], outcome.words
        roles = [r for _, r in judge.calls]
        assert roles[:2] == ["bad-end", "good-end"]  # both ends first
        assert roles[-2:] == ["confirm-bad", "confirm-parent"]
        assert judge.calls[-2][0] == culprit and judge.calls[-1][0] == culprit - 1  # it, then its parent, again
        assert len(judge.calls) <= step_bound(32) == math.ceil(math.log2(32)) + 4
        assert f"nfs: change {culprit}" in outcome.words


def test_a_commit_that_does_not_build_is_skipped_never_called_bad(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree, shas = repo
    judge = StandIn(shas, culprit=20, skip={16, 17, 24})
    outcome, state = bisect(tree, shas, judge, tmp_path)
    assert outcome.confirmed and outcome.first_bad == shas[20]
    skipped = [s for s in state.steps if s.verdict.kind == "skip"]
    assert skipped and all(s.role == "search" for s in skipped)
    # The culprit among skipped commits: the first bad is one of them, said so, not guessed.
    judge = StandIn(shas, culprit=20, skip={19})
    outcome, _ = bisect(tree, shas, judge, tmp_path / "amb")
    assert not outcome.confirmed and outcome.first_bad is None
    assert set(outcome.suspects) == {shas[19], shas[20]} and "skipped" in outcome.words


def test_ends_that_are_not_what_they_were_said_to_be_stop_before_the_search(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree, shas = repo
    judge = StandIn(shas, culprit=40)  # nothing is bad: the bad end passes
    outcome, _ = bisect(tree, shas, judge, tmp_path)
    assert outcome.first_bad is None and "the bad end" in outcome.words and "came out good" in outcome.words
    assert [r for _, r in judge.calls] == ["bad-end"]


def test_a_culprit_that_does_not_fail_again_is_not_confirmed(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree, shas = repo
    outcome, _ = bisect(tree, shas, StandIn(shas, culprit=12, flaky={12}), tmp_path)
    assert outcome.first_bad == shas[12] and not outcome.confirmed and "good when tested again" in outcome.words


def test_bad_ends_are_refused_before_anything_is_built(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree, shas = repo
    with pytest.raises(BisectError, match="wrong way round: swap them"):
        start(tree, shas[10], shas[2], "x")
    with pytest.raises(BisectError, match="same commit"):
        start(tree, shas[3], shas[3], "x")
    with pytest.raises(TreeError, match=r"no commit 'v9\.9'"):
        start(tree, "v9.9", shas[3], "x")
    with pytest.raises(TreeError, match="is not a revision"):
        start(tree, "--output=/tmp/x", shas[3], "x")  # never an option to git
    with pytest.raises(BisectError, match="not a git repository"):
        start(GitTree(tmp_path), shas[0], shas[3], "x")
    assert errors.exit_code(BisectError("x")) == 2 and errors.exit_code(TreeError("x")) == 2


def test_a_merge_history_is_bisected_as_git_would(tmp_path: Path) -> None:
    """A side branch merged in: the culprit on the branch is found, and every parent of it confirmed."""
    repo = tmp_path / "linux"
    main = make_repo(repo, 6)
    git(repo, "checkout", "-q", "-b", "side", main[2])
    side = []
    for i in range(5):
        (repo / f"side{i}.c").write_text(f"{i}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"side {i}")
        side.append(git(repo, "rev-parse", "HEAD").strip())
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = git(repo, "rev-parse", "HEAD").strip()
    tree = GitTree(repo)
    bad_from = set(side[3:]) | {merge}

    def judge(sha: str, index: int, role: str) -> Verdict:
        return Verdict("bad" if sha in bad_from else "good")

    state = start(tree, main[0], merge, "x")
    (tmp_path / "b").mkdir()
    outcome = Bisection(tree, state, judge, tmp_path / "b", log=lambda _m: None).run()
    assert outcome.confirmed and outcome.first_bad == side[3], outcome.words


def test_a_killed_bisection_resumes_where_it_was(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The controller is killed (SIGKILL) in its fifth step; resumed, it takes that step again and none
    before it, and ends as an uninterrupted bisection would."""
    tree, shas = repo
    out = tmp_path / "bisect"
    out.mkdir()
    state = start(tree, shas[0], shas[-1], "stand-in")
    state.save(out)
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from pathlib import Path
from swaplab.bisect.engine import Bisection, State, Verdict
from swaplab.bisect.gittree import GitTree
shas = {shas!r}
def judge(sha, index, role):
    if index == 5:
        print("in step 5", flush=True)
        time.sleep(60)
    return Verdict("bad" if shas.index(sha) >= 21 else "good")
out = Path({str(out)!r})
Bisection(GitTree({str(tree.path)!r}), State.load(out), judge, out, log=lambda m: None).run()
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "in step 5"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    saved = State.load(out)
    assert [s.index for s in saved.steps] == [1, 2, 3, 4]  # four steps kept; the fifth never written
    calls: list[int] = []

    def judge(sha: str, index: int, role: str) -> Verdict:
        calls.append(index)
        return Verdict("bad" if shas.index(sha) >= 21 else "good")

    outcome = Bisection(tree, State.load(out), judge, out, log=lambda _m: None).run()
    assert calls[0] == 5 and outcome.confirmed and outcome.first_bad == shas[21]
    _, uninterrupted = bisect(tree, shas, StandIn(shas, 21), tmp_path / "again")
    assert [s.sha for s in State.load(out).steps] == [s.sha for s in uninterrupted.steps]


def test_a_tampered_state_is_refused_not_followed(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree, shas = repo
    out = tmp_path / "b"
    out.mkdir()
    state = start(tree, shas[0], shas[-1], "x")
    state.save(out)
    doc = json.loads((out / STATE_FILE).read_text())
    doc["good"] = "--upload-pack=touch /tmp/pwned"
    (out / STATE_FILE).write_text(json.dumps(doc))
    with pytest.raises(BisectError, match="not a commit id"):
        State.load(out)
    (out / STATE_FILE).unlink()
    (out / STATE_FILE).symlink_to("/etc/passwd")
    with pytest.raises(BisectError, match="no bisection to resume"):
        State.load(out)


def test_the_weak_verdict_takes_more_pairs_before_it_calls_a_noisy_commit() -> None:
    """A good commit whose interval straddles the gate at first: more pairs, then good; never bad."""
    gate = 1.2
    rng = random.Random(7)  # noqa: S311 - noise, not secrets
    nfs = [60 * rng.lognormvariate(math.log(1.1), 0.12) for _ in range(12)]
    nbd = [60.0] * 12
    calls = [weak.decide(nfs[:k], nbd[:k], gate, max_pairs=12).call for k in range(1, 13)]
    assert calls[0] == "more" and "bad" not in calls and "good" in calls
    first_good = calls.index("good")
    assert all(c == "more" for c in calls[:first_good])
    bad = weak.decide([90.0, 93.0, 88.0], [60.0, 61.0, 59.0], gate, max_pairs=6)
    assert bad.call == "bad" and bad.low is not None and bad.low > gate and "over the gate" in bad.words
    unsure = weak.decide([70.0, 75.0, 78.0, 69.0], [60.0] * 4, gate, max_pairs=4)
    assert unsure.call == "skip" and "not sure" in unsure.words
    assert weak.decide([], [], gate, max_pairs=0).call == "skip"


def test_a_step_bound_is_the_issues() -> None:
    assert [step_bound(n) for n in (1, 2, 8, 9, 1000)] == [4, 5, 7, 8, 14]


# -- the command line and the judge on the blades ---------------------------------------------------------------
def test_the_command_names_every_problem_before_anything_is_built(repo, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from swaplab import cli

    tree, shas = repo
    rc = cli.main(["bisect", "--tree", f"{tree.path}/../linux", "--good", shas[0], "--max-pairs", "1",
                   "--split", "0", "-i", str(tmp_path / "nowhere.yml")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "cannot start" in err
    for words in (
        "say what regressed",
        "without '..'",
        "--good and --bad: give both",
        "--max-pairs 1",
        "--split 0: choose 1 to 64",
        "--pairs-per-run 3: choose 2 to --max-pairs (1)",
        "nowhere.yml: no such inventory",
    ):
        assert words in err, err
    # The ends the wrong way round: exit 2 from the tree, before any step (no bisection directory).
    before = set((Path(cli.__file__).parents[1] / "reports").glob("bisect-*"))
    example = str(Path(cli.__file__).parents[1] / "inventories" / "lab.example" / "hosts.yml")
    rc = cli.main(["bisect", "--tree", str(tree.path), "--good", shas[9], "--bad", shas[2], "--gate", "1.2",
                   "-i", example])  # fmt: skip
    assert rc == 2 and "swap them" in capsys.readouterr().err
    # More groups of blades than the rack has: named before anything is built.
    rc = cli.main(["bisect", "--tree", str(tree.path), "--good", shas[2], "--bad", shas[9], "--gate", "1.2",
                   "--split", "64", "-i", example])  # fmt: skip
    assert rc == 2 and "--split 64: the inventory has" in capsys.readouterr().err
    assert set((Path(cli.__file__).parents[1] / "reports").glob("bisect-*")) == before


def test_the_ends_come_from_the_historys_regression(tmp_path: Path) -> None:
    """The captured nights, ingested with their kernels' commits: the 5.10 night's regression gives the
    last good and first bad commits, and, for the ratio, a gate between the two levels."""
    import argparse

    from swaplab.bisect.cli import ends_from_history
    from swaplab.history import commands
    from swaplab.history.store import History, target

    runs = Path(__file__).parent / "data" / "runs"
    db = str(tmp_path / "history.db")
    with History(target(db)) as h:
        for run, commit in (("kernel-6.1-a", "a" * 40), ("kernel-6.1-b", "a" * 40), ("kernel-5.10", "c" * 40)):
            commands.ingest(h, runs / run, "virtual", None, commit, [])

    def ends(**kw: object) -> tuple[str, str, object]:
        return ends_from_history(argparse.Namespace(from_history=db, lab=None, **{"case": None, "gate": None, **kw}))

    good, bad, first = ends()
    assert (good, bad) == ("a" * 40, "c" * 40) and first.case is not None  # type: ignore[attr-defined]
    assert ends(case="verdict::test_kernel_health")[2].case == "verdict::test_kernel_health"  # type: ignore[attr-defined]
    ratio = ends(gate=1.5)[2]
    assert ratio.gate == 1.5 and ratio.case is None  # type: ignore[attr-defined]
    with pytest.raises(BisectError, match="names no regression"):
        ends(case="config::test_zswap_off")


class FakeRuns:
    """``RunJudge.run_once`` and the build stood in for: each run returns the pairs of two blades."""

    def __init__(self, per_run: list[list[tuple[float, float]]]) -> None:
        self.per_run, self.calls = per_run, []

    def __call__(self, deb: Path, provision: bool):  # type: ignore[no-untyped-def]
        self.calls.append(provision)
        pairs = self.per_run[len(self.calls) - 1]
        blades = [{"ratio": {"nfs_s": [n for n, _ in pairs[i::2]], "nbd_s": [d for _, d in pairs[i::2]]}}
                  for i in (0, 1)]  # fmt: skip
        return Path("/nonexistent/run"), 0, {"blades": blades}


def test_a_step_pools_its_blades_pairs_and_runs_again_while_unsure(repo, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from swaplab.bisect import steps
    from swaplab.kernel.build import BuildFailed, Built

    tree, shas = repo
    monkeypatch.setattr(steps, "build", lambda inp, cache, out, log: Built(tmp_path / "k.deb", "k", False, 12.0, None))
    judge = steps.RunJudge(tree, "inv.yml", steps.Target(gate=1.2), tmp_path, tmp_path / "cache", max_pairs=8,
                           log=lambda _m: None)  # fmt: skip
    noisy = FakeRuns([[(70.0, 60.0), (75.0, 60.0)], [(66.0, 60.0), (64.0, 60.0)], [(62.0, 60.0), (63.0, 60.0)]])
    monkeypatch.setattr(judge, "run_once", noisy)
    v = judge(shas[5], 3, "search")
    assert noisy.calls[0] is True and all(c is False for c in noisy.calls[1:])  # provisioned once
    assert v.kind == "good" and v.pairs == 2 * len(noisy.calls) and v.high is not None and v.high <= 1.2, v
    bad = FakeRuns([[(90.0, 60.0), (92.0, 60.0)], [(91.0, 60.0), (93.0, 60.0)]])
    monkeypatch.setattr(judge, "run_once", bad)
    assert judge(shas[6], 4, "search").kind == "bad" and len(bad.calls) == 1
    never_sure = FakeRuns([[(70.0, 60.0), (76.0, 60.0)]] * 4)
    monkeypatch.setattr(judge, "run_once", never_sure)
    v = judge(shas[7], 5, "search")
    assert v.kind == "skip" and "not sure" in v.note and v.pairs == 8

    def broken(inp, cache, out, log):  # type: ignore[no-untyped-def]
        raise BuildFailed("the kernel build failed (make exit 2)")

    monkeypatch.setattr(steps, "build", broken)
    v = judge(shas[8], 6, "search")
    assert v.kind == "skip" and "does not build" in v.note  # never bad


def test_a_case_regression_is_bad_when_the_case_fails_on_any_blade(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from swaplab.bisect import steps

    tree, _ = repo
    judge = steps.RunJudge(tree, "inv.yml", steps.Target(case="verdict::test_kernel_health"), tmp_path, tmp_path)
    doc = {"blades": [{"cases": [{"name": "test_kernel_health", "outcome": "passed"}]},
                      {"cases": [{"name": "test_kernel_health", "outcome": "failed"}]}]}  # fmt: skip
    assert judge.case_verdict(doc, 1.0, 2.0, []).kind == "bad"
    doc["blades"][1]["cases"][0]["outcome"] = "passed"
    assert judge.case_verdict(doc, 1.0, 2.0, []).kind == "good"
    doc["blades"][1]["cases"][0]["outcome"] = "error"
    assert judge.case_verdict(doc, 1.0, 2.0, []).kind == "skip"
    assert steps.Target.parse(steps.Target(gate=1.25).what()) == steps.Target(gate=1.25)
    assert steps.Target.parse("case verdict::test_kernel_health").case == "verdict::test_kernel_health"
    with pytest.raises(BisectError):
        steps.Target.parse("ratio over nan-ish")


def test_a_second_bisection_in_the_same_directory_is_refused_before_it_reads_the_state(
    repo,
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """Two controllers resuming one bisection would interleave their steps: the second is exit 2 while the
    first holds the directory's lock; a lock file that is a link is not followed."""
    import os

    from swaplab import cli
    from swaplab.bisect.engine import LOCK_FILE, hold

    tree, shas = repo
    out = tmp_path / "b"
    out.mkdir()
    start(tree, shas[0], shas[-1], "ratio over 1.2").save(out)
    fd = hold(out)
    try:
        example = str(Path(cli.__file__).parents[1] / "inventories" / "lab.example" / "hosts.yml")
        assert cli.main(["bisect", "--resume", str(out), "-i", example]) == 2
        assert "another bisection is running in it" in capsys.readouterr().err
    finally:
        os.close(fd)
    (out / LOCK_FILE).unlink()
    (out / LOCK_FILE).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BisectError, match="cannot lock it"):
        hold(out)
    assert not (tmp_path / "elsewhere").exists()


class Rounds(Bisection):
    """A bisection that counts its rounds: what takes a rack's wall-clock time when steps run side by side."""

    rounds = 0

    def next_actions(self, k: int):  # type: ignore[no-untyped-def]
        self.rounds += 1
        return super().next_actions(k)


def test_a_rack_tests_several_commits_at_once_in_fewer_rounds(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--split 3: three groups of blades, three commits a round. The same first bad commit, confirmed, in
    fewer rounds than one group takes; the ends share the first round, the confirmations the last."""
    tree, shas = repo
    rounds = {}
    for k in (1, 3):
        state = start(tree, shas[0], shas[-1], "stand-in")
        out = tmp_path / f"split-{k}"
        out.mkdir()
        judges = [StandIn(shas, culprit=20) for _ in range(k)]
        b = Rounds(tree, state, judges[0], out, log=lambda _m: None)
        outcome = b.run(judges=judges)
        assert outcome.confirmed and outcome.first_bad == shas[20], outcome.words
        assert [s.index for s in state.steps] == list(range(1, len(state.steps) + 1))
        assert State.load(out).steps == state.steps  # every step saved, in order
        rounds[k] = b.rounds
        if k == 3:
            assert {s.role for s in state.steps[:2]} == {"bad-end", "good-end"}
            assert all(len(j.calls) > 0 for j in judges)  # every group took steps
    assert rounds[3] < rounds[1], rounds


def test_a_batch_cut_short_keeps_the_steps_that_ended_and_resumes(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree, shas = repo
    state = start(tree, shas[0], shas[-1], "stand-in")
    out = tmp_path / "cut"
    out.mkdir()

    class Lost(StandIn):
        def __call__(self, sha: str, index: int, role: str) -> Verdict:
            if role == "search":
                raise RuntimeError("the controller went away")
            return super().__call__(sha, index, role)

    with pytest.raises(RuntimeError):
        Bisection(tree, state, StandIn(shas, 20), out, log=lambda _m: None).run(
            judges=[StandIn(shas, 20), Lost(shas, 20)])  # fmt: skip
    saved = State.load(out)
    assert [s.role for s in saved.steps][:2] in (["bad-end", "good-end"], ["good-end", "bad-end"])
    outcome = Bisection(tree, saved, StandIn(shas, 20), out, log=lambda _m: None).run(
        judges=[StandIn(shas, 20), StandIn(shas, 20)])  # fmt: skip
    assert outcome.confirmed and outcome.first_bad == shas[20]
