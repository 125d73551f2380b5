"""What the fleet suites report, as typed records: the one contract between the suites and every output.

The suites record these (``swaplab.fleet.recording.Recorder``); ``report.collect`` turns them back
into records on the controller; ``junit.xml``, ``results.json`` (``report/results.schema.json``),
``report.html`` and ``swaplab compare`` read them. Nothing downstream guesses a dict's keys.

On the wire (pytest's user properties, which pytest-xdist carries between processes, and
``results.json``) a record is its fields plus ``"type"``: ``to_json`` and ``from_json``. A field that
changes meaning bumps ``results.SCHEMA``. Pure data: no I/O, no imports from the rest of swaplab.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

# The pytest user-property keys a record and an attachment travel under.
RECORD_KEY = "swaplab_record"
ATTACHMENT_KEY = "attachment"
# A case that was not needed (a trial pair after --precision was reached) carries this user property, with
# the plan's reason, when it is skipped: it is left out of the results, not reported as skipped.
UNNEEDED_KEY = "swaplab_unneeded"
# A hog trial that finished while the NAS was out: its time measures the NAS, and is left out of the ratio.
NAS_OUTAGE = "nas_outage"


@dataclass(frozen=True)
class FindingRecord:
    """A detector's finding (``swaplab.detect``), with when it happened."""

    TYPE: ClassVar[str] = "finding"
    kind: str  # oops, panic, hung_task, oom_kill, nfs_not_responding, ...
    severity: str  # fail, warn, info
    text: str
    source: str  # blade:console, blade:dmesg
    line: int
    kernel_time_s: float | None = None  # the kernel's timestamp (seconds since boot), if the line had one
    at_s: float | None = None  # seconds after the load started (None outside a load)
    load: str | None = None  # the load it happened in
    excerpt: str = ""  # the console around it


@dataclass(frozen=True)
class LoadFigures:
    """One load as it ran: how it ended and how long it took."""

    TYPE: ClassVar[str] = "load"
    load: str
    store: str | None  # nfs, nbd; None: every swap area
    status: str  # done; timeout: no end seen within its budget
    rc: int | None
    wall_s: float  # start to results fetched, as the controller saw it
    prep_s: float | None = None  # swap areas and page cache set up, on the blade
    load_s: float | None = None  # the load itself, on the blade
    nfs_outage_s: float = 0.0
    warnings: tuple[str, ...] = ()
    host_cpu_pressure_pct: float | None = None  # virtual blades: the host's CPU pressure over the load
    emulator_cpu_s: float | None = None  # and the CPU time the blade's QEMU got


@dataclass(frozen=True)
class FioJob:
    TYPE: ClassVar[str] = "fio_job"
    job: str  # seq-write-64k, ...
    rw: str  # read, write
    bw_mib_s: float
    iops: float
    p99_ms: float | None
    runtime_s: float
    io_mib: float


@dataclass(frozen=True)
class FioRun:
    """fio's jobs on one store, alone or beside the memory hog."""

    TYPE: ClassVar[str] = "fio"
    store: str
    under_pressure: bool
    jobs: tuple[FioJob, ...]


@dataclass(frozen=True)
class HogTrial:
    """One memory-hog run: its working set through swap on one store, every page verified."""

    TYPE: ClassVar[str] = "hog"
    store: str
    trial: int | None  # None: the hog beside fio, not a timed trial
    status: str  # done, memory_error, none (no result)
    total_s: float | None
    swap_mib_per_s: float | None
    mib: int | None
    bad_pages: int = 0
    pswpin: int | None = None
    pswpout: int | None = None
    mem_total_kib: int | None = None  # the blade's RAM and swap when the hog ran
    swap_total_kib: int | None = None


@dataclass(frozen=True)
class RatioRecord:
    """NFS time over NBD time, paired trials, with its 95% interval and the gate it is held to."""

    TYPE: ClassVar[str] = "ratio"
    ratio: float
    ci95_low: float | None
    ci95_high: float | None
    ci95_half_width_pct: float | None
    pairs: int
    per_pair: tuple[float, ...]
    gate: float
    nfs_s: tuple[float, ...]
    nbd_s: tuple[float, ...]
    precision_pct: float | None = None  # --precision asked for (None: a fixed number of pairs)
    precision_reached: bool | None = None
    stop: str = ""  # why no further pair ran: trials, precision, max_trials, budget (swaplab.stats)


@dataclass(frozen=True)
class Health:
    """The kernel over the whole run: counters at first contact and at the end, and what grew."""

    TYPE: ClassVar[str] = "health"
    counters_start: dict[str, int]
    counters_end: dict[str, int]
    oom_kill_delta: int
    pgscan_direct_throttle_delta: int
    new_taint: int
    nfs_outage_s: float = 0.0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recovery:
    """A load the console watch ended (a panic, a hang) and what swaplab did about the blade."""

    TYPE: ClassVar[str] = "recovery"
    load: str
    status: str  # panic, hung
    reason: str
    detected_at_s: float  # seconds after the load started
    evidence: tuple[str, ...] = ()  # files kept: the sysrq dumps, the console tail
    recovered: bool = False  # power-cycled, booted into the kernel under test, swap restored
    recovery_s: float | None = None
    queued_s: float = 0.0  # waited for a recovery slot (--max-recoveries) before the power-cycle
    quarantined: str = ""  # why the blade's later cases are skipped, if they are


@dataclass(frozen=True)
class FaultRecord:
    """A fault swaplab injected into a load (``run --fault``), and its timeline in seconds into that load."""

    TYPE: ClassVar[str] = "fault"
    spec: str  # as given: SCENARIO[:SECONDS]@LOAD+AFTER
    scenario: str
    load: str
    injected_at_s: float | None = None
    ended_at_s: float | None = None  # a timed fault's end
    first_symptom_at_s: float | None = None  # the first finding on the console after it
    first_symptom: str = ""
    detected_at_s: float | None = None  # the console watch ended the load
    recovered_at_s: float | None = None
    error: str = ""  # why it could not be injected
    detail: str = ""  # what it did, where that says more than its scenario (nas-corrupt: which pages, where)


@dataclass(frozen=True)
class Facts:
    """What a configuration check saw (release, mount options, sysctls): named plain values."""

    TYPE: ClassVar[str] = "facts"
    values: dict[str, str | int | float | bool | None] = field(default_factory=dict)


Record = FindingRecord | LoadFigures | FioRun | HogTrial | RatioRecord | Health | Recovery | FaultRecord | Facts
TYPES: dict[str, type[Any]] = {c.TYPE: c for c in (FindingRecord, LoadFigures, FioRun, HogTrial, RatioRecord, Health,
                                                    Recovery, FaultRecord, Facts)}  # fmt: skip


def to_json(record: Record) -> dict[str, Any]:
    """The record's fields and its type tag (tuples as lists), for JSON and pytest-xdist."""
    out: dict[str, Any] = {"type": record.TYPE}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name == "jobs":
            value = [to_json(j) for j in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def from_json(data: dict[str, Any]) -> Record:
    """The record ``to_json`` made; ValueError if it is not one."""
    cls = TYPES.get(str(data.get("type")))
    if cls is None or cls is FioJob:
        raise ValueError(f"not a swaplab record: type {data.get('type')!r}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names) - {"type"}
    if unknown:
        raise ValueError(f"{cls.TYPE} record: unknown fields {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name == "type":
            continue
        if name == "jobs":
            value = tuple(FioJob(**{k: v for k, v in j.items() if k != "type"}) for j in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    try:
        record: Record = cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"{cls.TYPE} record: {e}") from None
    return record
