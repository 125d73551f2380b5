"""A whole run's result (``RunResult``) and its file, results.json: every figure of a run, for trends.

``results.json`` is the contract for trend tools: ``results.schema.json`` beside this file
describes it, and the tests validate real output against it. Bump ``SCHEMA`` when a field changes
meaning. It is also what ``swaplab report`` and ``swaplab compare`` read back: ``RunResult.load``
rebuilds the typed result from it, cases and records included.

Per blade the file carries the cases with their records, and, derived from them for readers that
want figures without walking cases: the counts, the ratio, the hog trials, the fio runs, the
kernel's health and every finding. The derived parts are ignored on reading.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplab import __version__, atomic
from swaplab.records import FindingRecord, FioRun, Health, HogTrial, RatioRecord, to_json
from swaplab.report.model import OUTCOMES, BladeResult, Case, exit_code
from swaplab.rundir import HOST_LABEL_RE, TIMINGS
from swaplab.textsafe import visible
from swaplab.untrusted import UnsafeFile, json_strict, path_inside, read_inside

SCHEMA = 2
SCHEMA_FILE = Path(__file__).with_name("results.schema.json")
VERDICTS = {0: "pass", 1: "kernel failure", 2: "infrastructure error"}


@dataclass
class KernelRecord:
    release: str = ""
    sha256: str = ""
    file: str = ""  # the package's or image's file name
    kind: str = ""  # deb, image, tree

    @classmethod
    def of(cls, kvars: dict[str, Any]) -> KernelRecord:
        return cls(release=str(kvars.get("release", "")), sha256=str(kvars.get("sha256", "")),
                   file=Path(str(kvars.get("path", ""))).name, kind=str(kvars.get("kind", "")))  # fmt: skip


@dataclass
class RunResult:
    exit_code: int
    kernel: KernelRecord
    blades: list[BladeResult]
    options: dict[str, Any] = field(default_factory=dict)  # RunOptions.to_json(), and what the run added
    timings_s: dict[str, float] = field(default_factory=dict)
    provision_tasks_s: dict[str, float] = field(default_factory=dict)  # "play: task" -> seconds, slowest first
    finished: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    swaplab_version: str = __version__
    changes: dict[str, Any] | None = None  # the history's verdict on this run (swaplab.history), if it was kept

    @property
    def verdict(self) -> str:
        return VERDICTS.get(self.exit_code, "?")

    def ratio(self, blade: BladeResult) -> RatioRecord | None:
        return next(iter(blade.of(RatioRecord)), None)

    # -- the file ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        t = dict(self.timings_s)
        total = t.get("total", 0.0)
        boots = t.get("lab_up", 0.0) + t.get("blade_boot", 0.0)
        overhead = max(0.0, total - boots - t.get("loads", 0.0))
        t.update(boots=boots, overhead=overhead)
        if total:
            t["overhead_pct"] = 100.0 * overhead / total
        return {
            "schema": SCHEMA,
            "swaplab_version": self.swaplab_version,
            "finished": self.finished or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "exit_code": self.exit_code,
            "verdict": self.verdict,
            "kernel": vars(self.kernel),
            "options": self.options,
            "timings_s": t,
            "provision_tasks_s": dict(sorted(self.provision_tasks_s.items(), key=lambda kv: -kv[1])[:15]),
            "blades": [_blade_json(b) for b in self.blades],
        } | ({"changes": self.changes} if self.changes is not None else {})

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunResult:
        """The result results.json holds; ValueError if it is not a results.json of this schema."""
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"results.json schema {doc.get('schema')!r}: this swaplab reads schema {SCHEMA}")
        try:
            blades = [
                BladeResult(name=str(b["name"]), properties=dict(b.get("properties", {})),
                            cases=[Case.from_dict(c) for c in b["cases"]])
                for b in doc["blades"]
            ]  # fmt: skip
            timings = {k: float(v) for k, v in doc.get("timings_s", {}).items() if isinstance(v, int | float)}
            # The verdict is the cases', never the file's word for it (a page must not say pass over a failure).
            return cls(exit_code=exit_code(blades), kernel=KernelRecord(**doc["kernel"]), blades=blades,
                       options=dict(doc.get("options", {})), timings_s=timings,
                       provision_tasks_s=dict(doc.get("provision_tasks_s", {})), finished=str(doc["finished"]),
                       swaplab_version=str(doc.get("swaplab_version", "")),
                       changes=doc["changes"] if isinstance(doc.get("changes"), dict) else None)  # fmt: skip
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"results.json is malformed: {type(e).__name__}: {e}") from None

    def dumps(self) -> bytes:
        """The file's bytes: ASCII JSON (a console's lone surrogate is an escape), non-finite figures as null."""
        # No indent: Python's JSON encoder is its C one only without (a fleet's 120 MiB in seconds, not 20 s).
        return json.dumps(_finite(self.to_json()), sort_keys=True, default=str, allow_nan=False).encode()

    def save(self, path: Path) -> None:
        atomic.write_bytes(path, self.dumps())

    @classmethod
    def load(cls, path: Path) -> RunResult:
        """A run directory's results.json, read as untrusted input: a regular file inside the directory, at
        most ``MAX_RESULTS_BYTES``, strict JSON, valid against ``results.schema.json`` (types, and numbers
        finite), blade names that are host names; attachments outside the directory are dropped. ValueError
        with one line naming the file and the problem."""
        try:
            doc = json_strict(read_inside(path.parent, path.name, MAX_RESULTS_BYTES))
        except ValueError as e:
            raise ValueError(f"{path}: cannot read it: {e}") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: not a results.json (not an object)")
        if doc.get("schema") == SCHEMA and (problem := schema_problem(doc)):
            raise ValueError(f"{path}: not a valid results.json: {problem}")
        try:
            result = cls.from_json(doc)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        for b in result.blades:
            if b.name not in ("run", "?") and not HOST_LABEL_RE.fullmatch(b.name):
                raise ValueError(f"{path}: blade name {b.name[:80]!r} is not a host name")
            for case in b.cases:
                case.attachments = [a for a in (inside(path.parent, x) for x in case.attachments) if a]
        return result


# A fleet's merged results.json: 10 racks of 100 blades made 61 MiB (bench/bench_merge.py).
MAX_RESULTS_BYTES = 256 << 20


def _schema(part: str | None) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    if part is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{part}"}
    return schema


@functools.cache
def _validator(part: str | None) -> Any:
    import jsonschema  # type: ignore[import-untyped]

    return jsonschema.Draft202012Validator(_schema(part))


@functools.cache
def _compiled(part: str | None) -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(_schema(part))


def schema_problem(doc: object, part: str | None = None) -> str | None:
    """The first way ``doc`` breaks ``results.schema.json`` (or its ``$defs`` ``part``), where and what; or None.

    A compiled validator (jsonschema-rs) decides: a fleet's results.json of 2,000 blades is checked in well
    under a second, where jsonschema took a minute. Only a document it refuses is walked again by jsonschema,
    whose errors say best where and what is wrong."""
    if _compiled(part).is_valid(doc):
        return None
    from jsonschema.exceptions import best_match, relevance  # type: ignore[import-untyped]

    errors = list(_validator(part).iter_errors(doc))
    if not errors:  # the two validators disagree: the compiled one's word stands, in its own terms
        return visible(f"{next(iter(_compiled(part).iter_errors(doc)), 'invalid')}"[:200], one_line=True)
    err = max(errors, key=relevance)
    while err.context:  # a record is one of many kinds: say what is wrong in the kind its "type" names
        branches: dict[Any, list[Any]] = {}
        for e in err.context:
            branches.setdefault(e.schema_path[0], []).append(e)
        typed = [es for es in branches.values()
                 if not any(e.validator == "const" and list(e.relative_path)[-1:] == ["type"] for e in es)]  # fmt: skip
        if len(typed) != 1:
            err = best_match([err])
            break
        err = max(typed[0], key=lambda e: len(e.absolute_path))
    where = "/".join(str(p) for p in err.absolute_path) or "the top"
    return visible(f"at {where}: {err.message[:160]}", one_line=True)


def case_problem(case: object) -> str | None:
    """What makes ``case`` (a journal's finished case) not one ``results.json`` could hold, or None."""
    return schema_problem(case, "case")


def inside(run_dir: Path, attachment: str) -> str | None:
    """An attachment as a path inside ``run_dir``, or None. A run directory Jenkins copied elsewhere keeps
    its layout: an absolute path that names this directory's own name is taken from there on."""
    p = Path(attachment)
    if p.is_absolute():
        parts = p.parts
        if run_dir.resolve().name not in parts:
            return None
        p = Path(*parts[len(parts) - parts[::-1].index(run_dir.resolve().name) :])
    try:
        return str(path_inside(run_dir, p))
    except UnsafeFile:
        return None


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON: a figure that is one is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _blade_json(b: BladeResult) -> dict[str, Any]:
    ratio = next(iter(b.of(RatioRecord)), None)
    health = next(iter(b.of(Health)), None)
    return {
        "name": b.name,
        "properties": b.properties,
        "counts": {o: b.count(o) for o in OUTCOMES},
        "cases": [c.to_dict() for c in b.cases],
        "ratio": to_json(ratio) if ratio else None,
        "hog_trials": [to_json(t) for t in b.of(HogTrial) if t.trial is not None],
        "fio": [to_json(f) for f in b.of(FioRun)],
        "health": to_json(health) if health else None,
        "findings": [to_json(f) for f in b.of(FindingRecord)],
    }


STOP_WORDS = {"trials": "the --trials asked for", "precision": "precision reached", "max_trials": "--max-trials",
              "budget": "--trials-budget", "run_budget": "the run's --run-budget"}  # fmt: skip


def precision_words(r: RatioRecord) -> str:
    """What precision the pairs reached, and why no more were run: "+-4.1% after 5 pairs (asked +-5%:
    reached)", "+-12.3% after 3 pairs (asked +-10%: NOT reached; stopped: the run's --run-budget)"."""
    width = f"+-{r.ci95_half_width_pct:.1f}%" if r.ci95_half_width_pct is not None else "no interval"
    out = f"{width} after {r.pairs} pair(s)"
    stop = STOP_WORDS.get(r.stop, visible(r.stop)[:40])
    if r.precision_pct:
        return out + (f" (asked +-{r.precision_pct:g}%: reached)" if r.precision_reached
                      else f" (asked +-{r.precision_pct:g}%: NOT reached; stopped: {stop})")  # fmt: skip
    return out + (f" (stopped: {stop})" if r.stop and r.stop != "trials" else "")


def run_budget(result: RunResult) -> tuple[float, int] | None:
    """The run's time and its --run-budget, (seconds taken, budget); None without a budget or a total."""
    budget, total = result.options.get("run_budget_s"), result.timings_s.get("total")
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0 and isinstance(total, int | float):
        return float(total), budget
    return None


def summary_text(result: RunResult) -> str:
    lines = []
    for b in result.blades:
        line = (f"{b.name}: {b.count('passed')} passed, {b.count('failed')} failed, {b.count('error')} error(s), "
                f"{b.count('skipped')} skipped")  # fmt: skip
        r = result.ratio(b)
        if r:
            ci = f" [95% CI {r.ci95_low:.2f}-{r.ci95_high:.2f}]" if r.ci95_low is not None and r.ci95_high else ""
            line += f"; NFS/NBD ratio {r.ratio:.2f}{ci} (gate {r.gate}); {precision_words(r)}"
        lines.append(line)
    t = result.to_json()["timings_s"]
    parts = [f"{k} {t[k]:.0f} s" for k in TIMINGS if k in t]
    if t.get("overhead_pct") is not None:
        parts.append(f"overhead {t['overhead']:.0f} s ({t['overhead_pct']:.1f}%)")
    lines.append("timings: " + ", ".join(parts))
    if (spent := run_budget(result)) is not None:
        total, budget = spent
        lines.append(f"run budget: {total:.0f} s of {budget} s ({'within' if total <= budget else 'OVER'} it)")
    lines.append(f"verdict: {result.verdict} (exit {result.exit_code})")
    return "\n".join(lines)
