"""``swaplab merge``: one sign-off for a fleet, from one run directory per rack.

A fleet runs one controller per rack (one NAS, one inventory, one Jenkins agent each). ``merge`` turns
their run directories into one with the files a run has (``results.json``, ``junit.xml``,
``report.html``), which ``swaplab report`` and ``swaplab compare`` read like any run's:

- each run directory is a rack, named ``NAME=RUN_DIR`` or after its inventory's directory
  (``inventories/rack7/hosts.yml`` is rack ``rack7``; the virtual lab's is ``virtual``); every blade
  carries its rack and run directory as properties (``rack``, ``rack.run``);
- what cannot be one sign-off is refused, every difference listed, nothing written (``MergeError``): another
  kernel under test (sha256), another swaplab version, other run options (all but those of one rack's
  place: its inventory, its limit and the local paths, ``PER_RACK_OPTIONS``), two racks of one name, the
  same blade in two racks (unless ``prefix``: the blade is then ``RACK-BLADE``);
- a missing rack is never green: each ``expect``-ed name with no run directory, and each run that was
  interrupted (a journal but no results.json: its finished cases are kept), is an ``<error>`` case;
- run directories are untrusted, as in ``report``: results.json and the journal are read bounded and
  checked, and the files copied (every regular file under each blade's directory, so that attachments and
  timelines open from the merged directory) are regular files inside their run directory, never through
  a link, each at most ``MAX_FILE_BYTES``. They are hard-linked where the file system allows it, else
  copied; attachment paths are rewritten to the copies.

The exit code is a run's: 0 every case passed, 1 a kernel failure anywhere, else 2 (an error anywhere,
a missing or interrupted rack included).
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swaplab import atomic, errors
from swaplab.report import journal
from swaplab.report.model import BladeResult, Case, exit_code
from swaplab.report.results import VERDICTS, RunResult
from swaplab.rundir import HOST_LABEL_RE, JOURNAL, RESULTS
from swaplab.textsafe import shown
from swaplab.untrusted import UnsafeFile, path_inside, read_inside

# Options that say where one rack's run happened, not what it tested: they may differ between racks. The
# kernel is compared by its sha256 (its path is the agent's), the run's additions are per rack.
# The machine (its calibration) and the run's budget are each rack's own; so are its blades' classes.
PER_RACK_OPTIONS = frozenset({"inventory", "limit", "kernel", "reports", "resume", "keep", "blade_memory_mib",
                              "pytest_exit", "nas_incidents", "racks", "machine", "run_budget_s",
                              "hw_class"})  # fmt: skip
MAX_FILE_BYTES = 256 << 20
MAX_RACKS = 256  # a sign-off of more racks than this is not one Jenkins job's
MAX_OPTIONS = 200  # a run has about 30: past this, the rest are not compared one by one
MAX_FILES_PER_RACK = 200_000
# The merged result's own cases (missing and interrupted racks, each rack's run-level cases), under the name
# a run's own take: compare and the report read them as they read a run's.
FLEET = "run"


class MergeError(errors.BadInput):
    pass


@dataclass
class Rack:
    name: str
    run_dir: Path
    result: RunResult
    interrupted: bool = False


def rack_name(result: RunResult) -> str:
    """A run's rack, by default: its inventory's directory (``virtual`` for the virtual lab's own)."""
    inventory = result.options.get("inventory")
    return Path(str(inventory)).parent.name if inventory else "virtual"


@dataclass(frozen=True)
class Spec:
    """One ``[NAME=]RUN_DIR`` argument, checked before any file in it is read."""

    name: str  # "" when it is to be the run's inventory's directory
    where: str
    run_dir: Path


def _name_problem(what: str, name: str) -> str | None:
    """Why ``name`` cannot name a rack or a blade in a sign-off: ASCII host-name labels only (a look-alike such
    as U+212A KELVIN SIGN is not ``k``), and not ``run``, which names the sign-off's own cases."""
    if not HOST_LABEL_RE.fullmatch(name):
        return (f"{what} {shown(repr(name), 80)} is not a host-name label (ASCII letters, digits, inner hyphens, at "
                "most 63)")  # fmt: skip
    if name.lower() == FLEET:
        return f"{what} {name!r}: '{FLEET}' names the sign-off's own cases: choose another name"
    return None


def _path_problem(where: str) -> str | None:
    if atomic.too_long(where):
        return f"{shown(where, 80)}: a path too long for a file system: name the run directory by a shorter path"
    return None


def check_specs(specs: Sequence[str], out_dir: Path, expect: Sequence[str]) -> tuple[list[Spec], list[str]]:
    """The run directories, each once, with their rack names, and every problem with the arguments: checked
    before any results.json is read (the count, the names, the directories by device and inode, the output)."""
    if len(specs) > MAX_RACKS or len(expect) > MAX_RACKS:
        return [], [f"{max(len(specs), len(expect))} racks: a sign-off merges at most {MAX_RACKS} (one run directory "
                    "per rack)"]  # fmt: skip
    found: list[str] = []
    out: list[Spec] = []
    names: dict[str, str] = {}
    dirs: dict[tuple[int, int], str] = {}
    if not specs:
        found.append("no run directory given")
    for spec in specs:
        name, sep, where = spec.partition("=")
        if not sep or "/" in name or _exists(spec):
            name, where = "", spec
        elif not name:
            found.append(f"{shown(spec, 80)}: an empty rack name: give NAME=RUN_DIR, or RUN_DIR alone")
            continue
        if problem := _path_problem(where) or (_name_problem("rack name", name) if name else None):
            found.append(problem)
            continue
        try:
            st = os.stat(where)
        except OSError as e:
            found.append(f"{shown(where)}: not a run directory ({e.strerror or e})")
            continue
        if not stat.S_ISDIR(st.st_mode):
            found.append(f"{shown(where)}: not a run directory (not a directory)")
            continue
        if (st.st_dev, st.st_ino) in dirs:
            found.append(f"{shown(where)} is {shown(dirs[st.st_dev, st.st_ino])} again: one run directory is one "
                         "rack, given once")  # fmt: skip
            continue
        dirs[st.st_dev, st.st_ino] = where
        if name and name.lower() in names:
            found.append(f"{shown(names[name.lower()])} and {shown(where)} are both rack {name.lower()!r}: name "
                         "each rack once")  # fmt: skip
            continue
        if name:
            names[name.lower()] = where
        out.append(Spec(name.lower(), where, Path(where)))
    seen: set[str] = set()
    for name in expect:
        if problem := _name_problem("--expect", name):
            found.append(problem)
        elif name.lower() in seen:
            found.append(f"--expect {name}: given twice")
        seen.add(name.lower())
    if problem := atomic.output_problem(out_dir, directory=True, inputs=[s.run_dir for s in out]):
        found.append(f"-o {problem}")
    return out, found


def _exists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):
        return False


def read_rack(spec: Spec) -> Rack:
    """A checked ``[NAME=]RUN_DIR`` read as untrusted input: a finished run's results.json, else an interrupted
    run's journal; MergeError naming the directory and what is wrong with it."""
    run_dir, where = spec.run_dir, shown(spec.where)
    try:
        if (run_dir / RESULTS).exists() or not (run_dir / JOURNAL).exists():
            result, interrupted = RunResult.load(run_dir / RESULTS), False
        else:
            result, interrupted = journal.rebuild(run_dir), True
    except (ValueError, OSError) as e:
        raise MergeError([f"{where}: cannot be merged: {shown(e, 400)}"]) from None
    name = spec.name or rack_name(result)
    if problem := _name_problem("rack name", name):
        raise MergeError([f"{where}: {problem}: name it NAME={where}"])
    return Rack(name.lower(), run_dir, result, interrupted)


def problems(racks: Sequence[Rack], prefix: bool) -> list[str]:
    """Every reason ``racks`` cannot be one sign-off. Names are compared as DNS compares them, ignoring case."""
    out: list[str] = []
    first = racks[0]
    names: dict[str, Rack] = {}
    for r in racks:
        if r.name in names:
            out.append(f"{shown(names[r.name].run_dir)} and {shown(r.run_dir)} are both rack {r.name!r}: name them "
                       "NAME=RUN_DIR")  # fmt: skip
        names.setdefault(r.name, r)
    for r in racks[1:]:
        if r.result.kernel.sha256 != first.result.kernel.sha256:
            out.append(f"rack {r.name} tested another kernel: {shown(r.result.kernel.release, 80)} (sha256 "
                       f"{shown(r.result.kernel.sha256)[:12]}) where rack {first.name} tested "
                       f"{shown(first.result.kernel.release, 80)} (sha256 "
                       f"{shown(first.result.kernel.sha256)[:12]})")  # fmt: skip
        if r.result.swaplab_version != first.result.swaplab_version:
            out.append(f"rack {r.name} ran swaplab {shown(r.result.swaplab_version, 40)}, rack {first.name} "
                       f"{shown(first.result.swaplab_version, 40)}")  # fmt: skip
        keys = sorted((set(r.result.options) | set(first.result.options)) - PER_RACK_OPTIONS)
        for k in keys[:MAX_OPTIONS]:
            a, b = first.result.options.get(k), r.result.options.get(k)
            if a != b:
                out.append(f"option {shown(k, 40)}: {shown(repr(a), 80)} on rack {first.name}, {shown(repr(b), 80)} "
                           f"on rack {r.name}")  # fmt: skip
    owner: dict[str, str] = {}
    for r in racks:
        in_rack: set[str] = set()
        for b in r.result.blades:
            if b.name in ("run", "?"):
                continue
            key = b.name.lower()
            if key == FLEET:
                out.append(f"rack {r.name}: a blade named {b.name!r}, which names a run's own cases")
                continue
            if key in in_rack:
                out.append(f"rack {r.name}: blade {key} is in its results.json twice")
                continue
            in_rack.add(key)
            merged = f"{r.name}-{key}" if prefix else key
            if prefix and not HOST_LABEL_RE.fullmatch(merged):
                out.append(f"blade {b.name} of rack {r.name}: {merged!r} is too long for a host name")
            elif merged in owner and owner[merged] != r.name:
                out.append(f"blade {key} is in rack {owner[merged]} and in rack {r.name}: give --prefix-racks "
                           "(blades become RACK-BLADE) or merge other runs")  # fmt: skip
            owner.setdefault(merged, r.name)
    return out


def merge(specs: Sequence[str], out_dir: Path, expect: Sequence[str] = (), prefix: bool = False,
          log: Callable[[str], None] = lambda _m: None) -> RunResult:  # fmt: skip
    """The fleet's result, its files copied into ``out_dir`` (the caller writes the outputs); MergeError with
    every problem, before anything is written, if the runs cannot be one sign-off. The arguments are checked
    before any run directory is read."""
    checked, found = check_specs(specs, out_dir, expect)
    if found:
        raise MergeError(found)
    racks: list[Rack] = []
    for spec in checked:
        try:
            racks.append(read_rack(spec))
        except MergeError as e:
            found += e.problems
    if racks:
        found += problems(racks, prefix)
    if found:
        raise MergeError(found)
    expect = [e.lower() for e in expect]
    out_dir.mkdir(parents=True, exist_ok=True)
    blades: list[BladeResult] = []
    fleet = BladeResult(FLEET)
    for r in racks:
        for b in r.result.blades:
            if b.name in ("run", "?"):  # a rack's own run-level cases: the fleet's, named with their rack
                fleet.cases += [dataclasses.replace(c, blade=FLEET, name=f"{r.name}: {c.name}") for c in b.cases]
                continue
            merged = f"{r.name}-{b.name.lower()}" if prefix else b.name.lower()
            files = _copy_blade(r, b.name, out_dir / merged)
            cases = [dataclasses.replace(c, blade=merged, attachments=_moved(c.attachments, files)) for c in b.cases]
            blades.append(BladeResult(merged, properties={**b.properties, "rack": r.name, "rack.run": str(r.run_dir)},
                                      cases=cases))  # fmt: skip
        if r.interrupted:
            fleet.cases.append(Case(FLEET, "merge", f"rack {r.name}", "error",
                                    message=f"rack {r.name}: its run in {r.run_dir} was interrupted (a journal, no "
                                    "results.json): its finished cases are kept, the rest never ran"))  # fmt: skip
        log(f"rack {r.name}: {len(r.result.blades)} blade(s) from {shown(r.run_dir)} ({r.result.verdict})")
    for name in expect:
        if name not in {r.name for r in racks}:
            fleet.cases.append(Case(FLEET, "merge", f"rack {name}", "error",
                                    message=f"rack {name}: expected, and no run directory was given for it (its job "
                                    "did not run, or its results were not collected)"))  # fmt: skip
    if fleet.cases:
        blades.append(fleet)
    first = racks[0].result
    options = {k: v for k, v in first.options.items() if k not in PER_RACK_OPTIONS}
    options["racks"] = {r.name: {"run": str(r.run_dir), "inventory": r.result.options.get("inventory"),
                                 "limit": r.result.options.get("limit"), "verdict": r.result.verdict,
                                 "interrupted": r.interrupted, "machine": r.result.options.get("machine"),
                                 "run_budget_s": r.result.options.get("run_budget_s")} for r in racks}  # fmt: skip
    timings: dict[str, float] = {}
    for r in racks:  # racks run side by side: the fleet took as long as its slowest rack, stage by stage
        for k, v in r.result.timings_s.items():
            timings[k] = max(timings.get(k, 0.0), v)
    return RunResult(exit_code=exit_code(blades), kernel=first.kernel, blades=blades, options=options,
                     timings_s=timings, finished=max(r.result.finished for r in racks),
                     swaplab_version=first.swaplab_version)  # fmt: skip


def _copy_blade(rack: Rack, blade: str, dest: Path) -> dict[str, Path]:
    """Every regular file under the rack's ``blade`` directory, hard-linked (else copied) under ``dest``; the
    map from each source path to its copy. Links, devices and anything leading out are left behind."""
    root = rack.run_dir / blade
    copied: dict[str, Path] = {}
    try:
        path_inside(rack.run_dir, blade)
    except UnsafeFile:
        return copied
    if root.is_symlink() or not root.is_dir():
        return copied
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
        for fn in filenames:
            if len(copied) >= MAX_FILES_PER_RACK:
                return copied
            src = Path(dirpath) / fn
            try:
                rel = src.relative_to(root)
                path_inside(root, rel)
                st = os.lstat(src)
            except (ValueError, UnsafeFile, OSError):
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                continue
            dst = dest / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst, follow_symlinks=False)
                if not stat.S_ISREG(os.lstat(dst).st_mode):  # swapped for a link since it was looked at
                    dst.unlink()
                    continue
            except OSError:
                try:
                    atomic.write_bytes(dst, read_inside(root, rel, MAX_FILE_BYTES))
                except (OSError, UnsafeFile):
                    continue
            copied[str(src)] = dst
    return copied


def _moved(attachments: list[str], files: dict[str, Path]) -> list[str]:
    """Attachments rewritten to their copies in the merged directory; those not copied are dropped."""
    return [str(files[str(Path(a))]) for a in attachments if str(Path(a)) in files]


def summary(result: RunResult) -> list[dict[str, Any]]:
    """Per rack, for the report's fleet table: its blades, their verdict, each blade's ratio; a rack that was
    expected and missing, or interrupted, says so. Empty for a run that is not a merge."""
    listed = result.options.get("racks")
    if not isinstance(listed, dict):
        return []
    by_rack: dict[str, list[BladeResult]] = {}
    for b in result.blades:
        by_rack.setdefault(str(b.properties.get("rack", "")), []).append(b)
    out = []
    for name, info in listed.items():
        bl = by_rack.get(str(name), [])
        code = exit_code(bl) if any(b.cases for b in bl) else 2
        verdict = "interrupted" if isinstance(info, dict) and info.get("interrupted") else VERDICTS.get(code, "?")
        ratios = [(b.name, x) for b in bl if (x := result.ratio(b)) is not None]
        out.append({"rack": str(name), "run": str(info.get("run", "")) if isinstance(info, dict) else "",
                    "blades": len(bl), "verdict": verdict, "ratios": ratios})  # fmt: skip
    for c in (c for b in result.blades if b.name == FLEET for c in b.cases):
        if c.suite == "merge" and c.name.startswith("rack ") and c.name[5:] not in listed:
            out.append({"rack": c.name[5:], "run": "", "blades": 0, "verdict": "missing", "ratios": []})
    return out
