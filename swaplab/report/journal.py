"""The run's journal: every case the moment it finishes, so that no finished result is ever lost.

``journal.jsonl`` in the run directory holds one JSON object a line, each flushed and fsynced as it
is written:

- ``run``: the run's kernel, options and blades (first);
- ``planned``: the cases pytest collected (their node ids, blade, suite and name);
- ``started``: a case began (its node id);
- ``finished``: a case ended, with the whole case (``Case.to_dict``) and its node id;
- ``unneeded``: a planned case that turned out not to be needed (a trial pair after ``--precision`` was
  reached): it is in no report;
- ``done``: the run wrote its outputs (a journal without it was interrupted).

``rebuild`` reads it back into a ``RunResult`` (``swaplab report`` on a run whose controller was
killed): what finished is reported as it was; what had started and not finished is an ``<error>``
"interrupted"; what was planned and never started is ``<skipped>``. A torn last line (the controller
died mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplab import __version__
from swaplab.report.model import BladeResult, Case, exit_code
from swaplab.report.results import KernelRecord, RunResult, case_problem
from swaplab.rundir import HOST_LABEL_RE, JOURNAL
from swaplab.untrusted import json_strict, read_inside

VERSION_RE = re.compile(r"|[0-9][0-9A-Za-z.+-]{0,39}")  # '': a journal from before 0.2.0


@dataclass(frozen=True)
class Planned:
    nodeid: str
    blade: str
    suite: str
    name: str


class Journal:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL

    def write(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, **data}, sort_keys=True, default=str)
        with self.path.open("a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def run(self, kernel: KernelRecord, options: dict[str, Any], blades: list[str]) -> None:
        self.write("run", kernel=vars(kernel), options=options, blades=blades, swaplab_version=__version__)

    def planned(self, cases: list[Planned]) -> None:
        self.write("planned", cases=[vars(c) for c in cases])

    def started(self, nodeid: str) -> None:
        self.write("started", nodeid=nodeid)

    def unneeded(self, nodeid: str) -> None:
        self.write("unneeded", nodeid=nodeid)

    def finished(self, case: Case, nodeid: str = "") -> None:
        self.write("finished", nodeid=nodeid, case=case.to_dict())


@dataclass
class JournalState:
    """What a journal says: the run, the cases that finished (in order), those started and not finished, the
    planned ones never started, and whether the run completed."""

    kernel: KernelRecord = field(default_factory=KernelRecord)
    options: dict[str, Any] = field(default_factory=dict)
    blades: list[str] = field(default_factory=list)
    swaplab_version: str = ""  # the swaplab that wrote it ('' in a journal from before 0.2.0)
    finished: list[tuple[str, Case]] = field(default_factory=list)  # (node id, case)
    interrupted: list[Planned] = field(default_factory=list)
    never_started: list[Planned] = field(default_factory=list)
    done: bool = False
    unreadable: int = 0  # events that could not be read (a torn last line, or a damaged journal)

    def finished_nodeids(self) -> set[str]:
        return {n for n, _ in self.finished if n}


MAX_JOURNAL_BYTES = 256 << 20


def _blade_name(name: str) -> bool:
    return name in ("run", "?") or HOST_LABEL_RE.fullmatch(name) is not None  # "?": a case with no blade


def read(run_dir: Path) -> JournalState:
    """The journal's state; ValueError if the run directory has no readable journal. Untrusted input (a run
    directory Jenkins copied): a regular file inside it, at most ``MAX_JOURNAL_BYTES``, each event strict
    JSON; an event whose blade is not a host name, or a case that does not read, is skipped and counted."""
    path = run_dir / JOURNAL
    try:
        lines = read_inside(run_dir, JOURNAL, MAX_JOURNAL_BYTES).decode(errors="replace").splitlines()
    except ValueError as e:
        raise ValueError(f"{path}: cannot read it: {e}") from None
    st = JournalState()
    planned: dict[str, Planned] = {}
    started: list[str] = []
    finished: dict[str, Case] = {}
    unneeded: set[str] = set()
    for line in lines:
        try:
            ev = json_strict(line)
        except ValueError:
            st.unreadable += 1  # a torn last line, or not JSON
            continue
        if not isinstance(ev, dict):
            st.unreadable += 1
            continue
        kind = ev.get("event")
        try:
            if kind == "run":
                blades = [str(b) for b in ev["blades"]]
                if not all(_blade_name(b) for b in blades):
                    raise ValueError("a blade name that is not a host name")
                version = ev.get("swaplab_version", "")
                if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
                    raise ValueError("a swaplab version that is not a version")
                st.kernel, st.options, st.blades = KernelRecord(**ev["kernel"]), dict(ev["options"]), blades
                st.swaplab_version = version
            elif kind == "planned":
                for c in ev["cases"]:
                    p = Planned(**{k: str(c[k]) for k in ("nodeid", "blade", "suite", "name")})
                    if _blade_name(p.blade):
                        planned.setdefault(p.nodeid, p)
            elif kind == "started":
                started.append(str(ev["nodeid"]))
            elif kind == "finished":
                if problem := case_problem(ev["case"]):
                    raise ValueError(problem)
                case = Case.from_dict(ev["case"])
                if not _blade_name(case.blade):  # the schema holds the rest (outcome, types; json_strict: finite)
                    raise ValueError(f"not a case: blade {case.blade[:40]!r}")
                key = str(ev.get("nodeid") or f"{case.blade}::{case.suite}::{case.name}")
                if key not in finished:
                    st.finished.append((str(ev.get("nodeid", "")), case))
                finished[key] = case
            elif kind == "unneeded":
                unneeded.add(str(ev["nodeid"]))
            elif kind == "done":
                st.done = True
        except (KeyError, TypeError, ValueError, AttributeError):
            st.unreadable += 1  # an event this swaplab cannot read: the others still count
            continue
    if not st.blades and not st.finished:
        raise ValueError(f"{path}: no run in it")
    st.interrupted = [planned.get(n, Planned(n, "?", "?", n)) for n in dict.fromkeys(started)
                      if n not in finished and n not in unneeded]  # fmt: skip
    st.never_started = [p for n, p in planned.items() if n not in finished and n not in started and n not in unneeded]
    return st


def rebuild(run_dir: Path) -> RunResult:
    """The run's result from its journal alone (an interrupted run's included)."""
    st = read(run_dir)
    by_blade: dict[str, BladeResult] = {b: BladeResult(b) for b in st.blades}
    for _, case in st.finished:
        by_blade.setdefault(case.blade, BladeResult(case.blade)).cases.append(case)
    for p in st.interrupted:
        by_blade.setdefault(p.blade, BladeResult(p.blade)).cases.append(Case(
            p.blade, p.suite, p.name, "error", message="interrupted: the case had started and did not finish "
            "(the controller stopped)"))  # fmt: skip
    for p in st.never_started:
        by_blade.setdefault(p.blade, BladeResult(p.blade)).cases.append(
            Case(p.blade, p.suite, p.name, "skipped", message="never started: the run was interrupted before it")
        )
    blades = [b for b in by_blade.values() if b.cases]
    if not st.done and not st.interrupted and not st.never_started:
        interrupted = Case("run", "run", "infrastructure", "error",
                           message="the run was interrupted (its journal has no end)")  # fmt: skip
        blades.append(BladeResult("run", cases=[interrupted]))
    # A journal from before 0.2.0 does not say which swaplab wrote it: taken as this one, as it was then.
    return RunResult(exit_code=exit_code(blades), kernel=st.kernel, blades=blades, options=st.options,
                     swaplab_version=st.swaplab_version or __version__)  # fmt: skip
