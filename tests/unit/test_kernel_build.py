"""A kernel from its tree, up to the build: the inputs checked all at once before anything is built, the
patch series applied onto a scratch copy (the user's tree untouched), a patch that does not apply named,
and the cache. The build itself (``make bindeb-pkg`` of a real tree) runs in ``make bisect-demo``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from swaplab import errors
from swaplab.kernel import build
from tests.unit.test_bisect import git

FIT = build.FRAGMENT  # the fragment alone is a config that fits


def kernel_like(path: Path) -> str:
    """A small git tree with a Linux tree's landmarks; its HEAD."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for name in build.KERNEL_MARKERS:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        if name == "scripts/kconfig":
            (path / name).mkdir()
            (path / name / "Makefile").write_text("# kconfig\n")
        else:
            (path / name).write_text(f"# {name}\n")
    (path / "fs" / "nfs").mkdir(parents=True)
    (path / "fs" / "nfs" / "write.c").write_text("int nfs_swap_write(void)\n{\n\treturn 0;\n}\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    return git(path, "rev-parse", "HEAD").strip()


def patch_file(path: Path, old: str, new: str) -> Path:
    path.write_text(
        "--- a/fs/nfs/write.c\n+++ b/fs/nfs/write.c\n@@ -1,4 +1,4 @@\n int nfs_swap_write(void)\n {\n"
        f"-\t{old}\n+\t{new}\n }}\n"
    )
    return path


def test_every_problem_with_the_inputs_is_named_at_once(tmp_path: Path) -> None:
    lean = tmp_path / "lean.config"
    lean.write_text("CONFIG_SWAP=y\nCONFIG_NFS_FS=y\nCONFIG_NFS_V3=y\n")  # no CONFIG_NFS_SWAP, no diskless boot
    series = tmp_path / "series-dir"
    series.mkdir()
    (series / "series").write_text("0001-a.patch\n../../etc/passwd\n")
    problems = build.TreeInput(tmp_path / "linux" / ".." / "linux", patches=series, kconfig=lean).problems()
    text = "\n".join(problems)
    assert "without '..'" in problems[0]
    assert "is not a patch name inside the series' directory" in text or "names 0001-a.patch" in text
    assert "CONFIG_NFS_SWAP" in text and "diskless boot" in text and str(lean) in text
    assert build.TreeInput(tmp_path).problems() == [f"{tmp_path}: not a Linux source tree (no Makefile, Kconfig, "
                                                    "arch/x86/Kconfig, scripts/kconfig)"]  # fmt: skip
    with pytest.raises(build.BuildInputError) as e:
        build.build(build.TreeInput(tmp_path, kconfig=lean), tmp_path / "cache", tmp_path / "out", print)
    assert errors.exit_code(e.value) == 2 and not (tmp_path / "cache").exists()  # nothing started


def test_a_series_is_applied_on_a_scratch_copy_never_on_the_users_tree(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    head = kernel_like(tree)
    series = tmp_path / "series"
    series.mkdir()
    patch_file(series / "0001-slow.patch", "return 0;", "return nfs_swap_delay();")
    (series / "series").write_text("# the swap-over-NFS series\n0001-slow.patch -p1\n")
    inp = build.TreeInput(tree, head, series)
    assert inp.problems() == []
    scratch = build.prepare(inp, tmp_path / "cache" / "trees", print)
    assert "nfs_swap_delay" in (scratch / "fs" / "nfs" / "write.c").read_text()
    assert "nfs_swap_delay" not in (tree / "fs" / "nfs" / "write.c").read_text()
    assert git(tree, "status", "--porcelain") == "" and git(tree, "rev-parse", "HEAD").strip() == head
    # The next input (no series) takes the patch away whole: the scratch is the commit again.
    again = build.prepare(build.TreeInput(tree, head), tmp_path / "cache" / "trees", print)
    assert again == scratch and "nfs_swap_delay" not in (again / "fs" / "nfs" / "write.c").read_text()


def test_a_patch_that_does_not_apply_is_named_before_anything_is_built(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    head = kernel_like(tree)
    series = tmp_path / "series"
    series.mkdir()
    patch_file(series / "0001-ok.patch", "return 0;", "return 1;")
    patch_file(series / "0002-stale.patch", "return 7;", "return 8;")  # written against another tree
    with pytest.raises(build.BuildInputError, match=r"the patch 0002-stale\.patch does not apply") as e:
        build.build(build.TreeInput(tree, head, series), tmp_path / "cache", tmp_path / "out", print)
    assert errors.exit_code(e.value) == 2
    assert not (tmp_path / "out" / "build.log").exists() and not (tmp_path / "cache" / "debs").exists()
    # An unpacked tree (no git): the same, on its copy.
    shutil.rmtree(tree / ".git")
    with pytest.raises(build.BuildInputError, match=r"0002-stale\.patch does not apply"):
        build.prepare(build.TreeInput(tree, None, series), tmp_path / "cache2", print)
    assert "return 0;" in (tree / "fs" / "nfs" / "write.c").read_text()


def test_an_unchanged_input_is_never_built_twice(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    head = kernel_like(tree)
    inp = build.TreeInput(tree, head)
    key = build.input_key(inp)
    done = tmp_path / "cache" / "debs" / key
    done.mkdir(parents=True)
    (done / "linux-image-6.1.192-swaplab_1_amd64.deb").write_bytes(b"!<arch>\n")
    built = build.build(inp, tmp_path / "cache", tmp_path / "out", print)
    assert built.cached and built.deb.parent == done and not (tmp_path / "cache" / "trees").exists()
    # Each part of the input is in the key: the commit, the series, the config.
    (tree / "README").write_text("x\n")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "next")
    next_commit = git(tree, "rev-parse", "HEAD").strip()
    p = patch_file(tmp_path / "one.patch", "return 0;", "return 1;")
    cfg = tmp_path / "my.config"
    cfg.write_text(FIT)
    keys = {key, build.input_key(build.TreeInput(tree, next_commit)), build.input_key(build.TreeInput(tree, head, p)),
            build.input_key(build.TreeInput(tree, head, kconfig=cfg))}  # fmt: skip
    assert len(keys) == 4
    # Each input is a package version of its own: provisioning installs by version, and the release
    # (6.1.192-swaplab) is the same for every commit.
    versions = {build.package_version(k) for k in keys}
    assert len(versions) == 4 and all(build.DEB_VERSION_RE.fullmatch(v) for v in versions)


def test_a_source_tree_is_built_by_its_commit_when_clean_and_by_its_content_when_not(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    head = kernel_like(tree)
    assert build.is_source_tree(str(tree)) and not build.is_source_tree(str(tmp_path))
    assert build.source_input(tree, None, None, print).commit == head  # a one-commit change: incremental
    (tree / "fs" / "nfs" / "write.c").write_text("int nfs_swap_write(void) { return 1; }\n")
    said: list[str] = []
    assert build.source_input(tree, None, None, said.append).commit is None  # the edit is built, not HEAD
    assert "uncommitted changes" in said[0]
    p = patch_file(tmp_path / "0001-fix.patch", "return 0;", "return 1;")
    record = build.source_record(build.TreeInput(tree, head, p), build.Built(Path("x.deb"), "k" * 24, True, 0.0, None))
    assert record["commit"] == head and record["patches"][0]["name"] == "0001-fix.patch"  # type: ignore[index]
    assert record["config"] == "x86_64_defconfig + swaplab's fragment"


def test_run_with_a_source_tree_checks_it_with_everything_else_then_builds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`swaplab run --kernel SOURCE_TREE`: a bad series is named with the other problems, before anything (no
    run directory); --patches with a package is refused; a tree that does not build is exit 2 naming its log,
    in the run directory it made."""
    from swaplab import cli

    tree = tmp_path / "linux"
    kernel_like(tree)
    reports = tmp_path / "reports"
    inv = str(Path(build.__file__).parents[2] / "inventories" / "lab.example" / "hosts.yml")
    rc = cli.main(["run", "-i", inv, "--kernel", str(tree), "--patches", str(tmp_path / "no-such.patch"),
                   "--trials", "0"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "no-such.patch: no such file or directory" in err and "--trials 0" in err, err
    rc = cli.main(["run", "-i", inv, "--kernel", str(tmp_path / "nothing.deb"), "--kconfig", str(tmp_path / "c")])
    assert rc == 2 and "--patches and --kconfig are for --kernel SOURCE_TREE" in capsys.readouterr().err
    # The example rack's inventory fails its own checks (no host keys here) before anything is built:
    from swaplab import run
    from swaplab.options import RunOptions

    with pytest.raises(run.RunError) as e:
        run.Run(RunOptions(inventory=inv, kernel=str(tree), reports=reports), print).execute()
    assert "no host key" in "; ".join(e.value.problems) and not reports.exists()
    # With everything else good, the tree is built. This small one has a kernel's landmarks and no build
    # system: its build fails, exit 2, with its log kept in the run directory made for it.
    checked = run.Checked([], None, None, build.TreeInput(tree))
    monkeypatch.setattr(run, "validate", lambda opts, log: checked)
    monkeypatch.setattr(build, "BUILD_TIMEOUT_S", 60)
    monkeypatch.setattr("swaplab.run.HOME", tmp_path)
    with pytest.raises(run.RunError) as e:
        run.Run(RunOptions(kernel=str(tree), reports=reports), print).execute()
    text = "; ".join(e.value.problems)
    assert "make x86_64_defconfig" in text and "kernel-build/build.log" in text, text
    made = [d for d in reports.iterdir() if d.name != "latest"]  # the run directory made for the build
    assert len(made) == 1 and str(made[0] / "kernel-build" / "build.log") in text
