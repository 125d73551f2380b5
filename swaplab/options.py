"""A run's options: every default and range written once, here.

``RunOptions`` is what `swaplab run` does. The CLI builds its arguments from these fields
(flag, help and default come from each field's metadata), the fleet suites get the same object
in their context, and ``results.json`` records it. ``WorkingSet`` is the hog's working set: a
multiple of the blade's RAM or a size in MiB, never a bare ``(times, mib)`` pair.

The virtual lab's shape (blades, memory, BMC, DHCP) is part of the same options; ``swaplab lab up``
takes the same fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from swaplab.labshape import BMCS, DHCPS, HELP, NASES, LabShape
from swaplab.repo import HOME
from swaplab.stats import TrialPlan

# The fleet suites, by the one name the CLI, the file (tests/fleet/test_<name>.py) and the JUnit
# class (<blade>.<name>) share, in the order they run.
SUITES = ("config", "hog", "fio", "verdict")
DEFAULT_BLADE_MEMORY_MIB = 192
# The smallest blade measured to boot and pass a default run (see swaplab.lab.machines).
MIN_BLADE_MEMORY_MIB = 160
MAX_BLADE_MEMORY_MIB = 4096
MAX_BLADES = 8

# Every numeric option's range, checked with the rest before anything starts.
RANGES: dict[str, tuple[float, float]] = {
    "trials": (1, 50),
    "max_trials": (1, 50),
    "precision_pct": (0, 100),
    "trials_budget_s": (60, 86400),
    "run_budget_s": (0, 7 * 86400),
    "ratio_gate": (1.0, 100.0),
    "fio_size_mib": (1, 4096),
    "fio_runtime_s": (1, 600),
    "hang_budget_s": (30, 3600),
    "stall_after_s": (10, 3600),
    "load_budget_s": (30, 86400),
    "load_budget_s_per_mib": (0.1, 60.0),
    "max_hangs": (1, 20),
    "max_recoveries": (1, 1000),
    "blades": (1, MAX_BLADES),
    "blade_memory": (MIN_BLADE_MEMORY_MIB, MAX_BLADE_MEMORY_MIB),
    # A working set must be above RAM (below it nothing swaps, and the user's mistake would read as
    # a kernel failure) and within what the NFS and NBD swap areas hold.
    "working_set_times": (1.1, 8.0),
    "working_set_mib": (64, 1 << 20),
}


@dataclass(frozen=True)
class WorkingSet:
    """The hog's working set: ``times_ram`` x the blade's MemTotal (``2x``), or ``mib`` MiB (``400M``)."""

    unit: Literal["times_ram", "mib"]
    value: float

    @classmethod
    def parse(cls, text: str) -> WorkingSet:
        """``2x`` or ``400M``/``400MiB``; ValueError naming the accepted forms and ranges."""
        t = text.strip().lower()
        lo, hi = RANGES["working_set_times"]
        mlo, mhi = RANGES["working_set_mib"]
        why = f"give a multiple of RAM from {lo}x to {hi:g}x (2x) or a size from {mlo:.0f}M to {mhi:.0f}M (400M)"
        if t.endswith("x"):
            try:
                times = float(t[:-1])
            except ValueError:
                raise ValueError(why) from None
            if not (math.isfinite(times) and lo <= times <= hi):
                raise ValueError(why)
            return cls("times_ram", times)
        number = t.removesuffix("mib") if t.endswith("mib") else t.removesuffix("m") if t.endswith("m") else None
        if number is None or not number.isdigit() or not mlo <= int(number) <= mhi:
            raise ValueError(why)
        return cls("mib", int(number))

    def __str__(self) -> str:
        return f"{self.value:g}x" if self.unit == "times_ram" else f"{int(self.value)}M"

    def hog_argument(self) -> str:
        """The hog agent's size argument."""
        return f"--times-ram {self.value:g}" if self.unit == "times_ram" else f"--mib {int(self.value)}"

    def scaled(self, share: float, mem_total_kib: int, floor: float) -> WorkingSet:
        """This working set cut to ``share`` (0 to 1) of the way from ``floor`` x RAM to itself: 0 is the floor,
        1 itself, never above itself."""
        ram, full = mem_total_kib / 1024, self.mib(mem_total_kib)
        low = min(full, floor * ram)
        target = low + (full - low) * max(0.0, min(1.0, share))
        if self.unit == "times_ram":
            return WorkingSet("times_ram", round(target / ram, 2))
        return WorkingSet("mib", float(int(target)))

    def mib(self, mem_total_kib: int) -> float:
        """The working set in MiB on a blade with this much RAM."""
        return mem_total_kib * self.value / 1024 if self.unit == "times_ram" else float(self.value)


def _opt(default: Any, flag: str | None, help: str, **kw: Any) -> Any:
    """A field with its command-line flag and help (``flag`` None: not a `run` option)."""
    meta = {"flag": flag, "help": help, **kw}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunOptions:
    inventory: str | None = _opt(None, "-i/--inventory", "a lab's inventory (default: bring up the virtual lab)")
    kernel: str | None = _opt(None, "--kernel", "the kernel under test: a linux-image .deb, a directory "
                              "holding boot/vmlinuz-RELEASE and lib/modules/RELEASE (a bare bzImage cannot boot a "
                              "blade), or a kernel source tree, built first (a git work tree or an unpacked source; "
                              "default: Debian 12's stock kernel)")  # fmt: skip
    patches: str | None = _opt(None, "--patches", "with --kernel SOURCE_TREE: a patch series applied on a scratch "
                               "copy (a quilt series, a directory of *.patch, or an mbox)", metavar="PATH")  # fmt: skip
    kconfig: str | None = _opt(None, "--kconfig", "with --kernel SOURCE_TREE: the config to build with (default: "
                               "x86_64_defconfig with what the blades need)", metavar="PATH")  # fmt: skip
    trials: int = _opt(3, "--trials", "NFS/NBD pairs of hog trials (with --precision: the least)")
    precision_pct: float = _opt(10.0, "--precision", "add pairs until the NFS/NBD ratio's 95%% interval is within "
                                "+-PCT%% (0: off, exactly --trials pairs)", metavar="PCT")  # fmt: skip
    max_trials: int = _opt(10, "--max-trials", "with --precision: the most pairs")
    trials_budget_s: int = _opt(900, "--trials-budget", "with --precision: no pair starts that would take the hog "
                                "trials past this many seconds", metavar="S")  # fmt: skip
    run_budget_s: int = _opt(600, "--run-budget", "the whole run's time budget: once a pair has shown what a "
                             "pair costs on this machine, no pair starts that would take the run past it (the "
                             "report says the precision reached in it; 0: none)", metavar="S")  # fmt: skip
    working_set: WorkingSet = _opt(WorkingSet("times_ram", 2.0), "--working-set",
                                   "hog working set: a multiple of RAM (2x) or MiB (400M)")  # fmt: skip
    ratio_gate: float = _opt(2.5, "--ratio-gate", "fail if NFS time / NBD time exceeds this")
    fio_size_mib: int = _opt(32, "--fio-size", "fio file/region size, MiB", metavar="MiB")
    fio_runtime_s: int = _opt(5, "--fio-runtime", "seconds per fio job", metavar="S")
    hang_budget_s: int = _opt(
        150,
        "--hang-budget",
        "seconds of console silence (no heartbeat, no output) "
        "after which a blade under load is hung (hung_task_timeout_secs + 30)",
        metavar="S",
    )
    stall_after_s: int = _opt(120, "--stall-after", "a hog whose progress does not move for this many seconds "
                              "while its blade answers is stalled: ended, judged a kernel failure (unless the NAS was "
                              "out) and its blade recovered (its progress moves every second or two on a blade of a "
                              "few GiB)", metavar="S")  # fmt: skip
    load_budget_s: int = _opt(180, "--load-budget", "a hog load's budget on the blade: this many seconds, plus "
                              "--load-budget-per-mib for each MiB of its working set; past it the load is ended",
                              metavar="S")  # fmt: skip
    load_budget_s_per_mib: float = _opt(2.5, "--load-budget-per-mib", "seconds a hog load's budget grows by per MiB "
                                        "of its working set", metavar="S")  # fmt: skip
    max_hangs: int = _opt(2, "--max-hangs", "a blade that hangs or panics this often in a run is quarantined: its "
                          "later cases are skipped")  # fmt: skip
    max_recoveries: int = _opt(8, "--max-recoveries", "at most this many hung or crashed blades are recovered "
                               "(power-cycled, PXE-booted) at once; the others wait their turn")  # fmt: skip
    fault: str | None = _opt(None, "--fault", "virtual lab: inject a fault into the first blade's load, e.g. "
                             "blade-freeze@hog-t1-nfs+20 (swaplab.lab.faults lists the scenarios)",
                             metavar="SCENARIO[:S]@LOAD+AFTER")  # fmt: skip
    suites: list[str] = _opt(list(SUITES), "--suite", f"suites to run, comma-separated ({','.join(SUITES)})")
    limit: str | None = _opt(None, "--limit", "only blades matching these comma-separated patterns (fnmatch)")
    blades: int = _opt(1, "--blades", "virtual lab: number of blades")
    names: list[str] = _opt([], "--names", "virtual lab: the blades' host names, comma-separated, rack-style "
                            "like r1-b01,r1-b02 (default blade1..bladeN; given, their number is --blades)")  # fmt: skip
    blade_memory: int = _opt(DEFAULT_BLADE_MEMORY_MIB, "--blade-memory", "virtual lab: MiB per blade", metavar="MiB")
    # The virtual lab's shape (swaplab.labshape: one default each).
    bmc: str = _opt(LabShape.bmc, "--bmc", HELP["bmc"], choices=BMCS)
    dhcp: str = _opt(LabShape.dhcp, "--dhcp", HELP["dhcp"], choices=DHCPS)
    nas: str = _opt(LabShape.nas, "--nas", HELP["nas"], choices=NASES)
    keep: bool = _opt(False, "--keep", "virtual lab: leave it up at the end")
    pin: bool = _opt(True, "--no-pin", "benchmarks: leave the hog's and the sampler's own pages swappable (by "
                     "default they are locked in RAM as they are touched, so that swap cannot stop the heartbeat "
                     "or kill the hog)")  # fmt: skip
    settle_nas: bool = _opt(True, "--no-settle-nas", "benchmarks: do not have the NAS write back and drop its "
                            "cached pages of the blade's swapfile and NBD file before each hog trial (by "
                            "default it does, so that no trial meets what the last one left: "
                            "swaplab.fleet.nas_settle)")  # fmt: skip
    warm_up: bool = _opt(True, "--no-warm-up", "benchmarks: no warm-up before the hog trials (by default the hog "
                         "runs once through NFS swap at up to 1.25x RAM first, not counted: a first NFS trial "
                         "after a boot is slow, and would weigh on the ratio)")  # fmt: skip
    provision: bool = _opt(True, "--no-provision", "with -i: test the lab as it is, without the playbooks")
    resume: str | None = _opt(None, "--resume", "continue an interrupted run in this run directory, against the "
                              "same lab and kernel: its finished cases are kept and not run again",
                              metavar="RUN_DIR")  # fmt: skip
    reports: Path = _opt(HOME / "reports", None, "where run directories go")

    @property
    def shape(self) -> LabShape:
        return LabShape(self.bmc, self.dhcp, self.nas)

    def lab_blade_names(self) -> list[str]:
        """The virtual lab's blades, as ``--names`` or ``--blades`` make them."""
        return list(self.names) or [f"blade{i}" for i in range(1, self.blades + 1)]

    def load_budget(self, mib: float) -> int:
        """A hog load's budget on the blade, for a working set of ``mib``."""
        return int(self.load_budget_s + self.load_budget_s_per_mib * mib)

    def trial_plan(self) -> TrialPlan:
        """How many NFS/NBD pairs of hog trials this run takes (``swaplab.stats.TrialPlan``)."""
        if not self.precision_pct:
            return TrialPlan(self.trials, self.trials, None, float("inf"))
        return TrialPlan(self.trials, max(self.trials, self.max_trials), self.precision_pct, self.trials_budget_s)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path | WorkingSet) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOptions:
        """Options as ``to_json`` wrote them (a journal's: untrusted). Each value must have its field's type
        (a bool a bool, a count an integer, a time a finite number, a list a list of strings); TypeError
        naming the first that does not."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
            kwargs[f.name] = _typed(f.name, data[f.name], default)
        return cls(**kwargs)


def _typed(name: str, value: Any, default: Any) -> Any:
    """``value`` as the field whose default is ``default`` takes it; TypeError if it is not of that type."""
    what = None
    if isinstance(default, bool):
        what = None if isinstance(value, bool) else "true or false"
    elif isinstance(default, int):
        what = None if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1 << 53 else "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        what = None if ok else "a finite number"
        value = float(value) if ok else value
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        what = None if ok else "a list of strings"
    elif isinstance(default, WorkingSet | Path):
        what = None if isinstance(value, str) else "a string"
    elif default is None or isinstance(default, str):
        what = None if value is None or isinstance(value, str) else "a string"
    if what is not None:
        raise TypeError(f"option {name}: {str(value)[:40]!r} is not {what}")
    if isinstance(default, WorkingSet):
        return WorkingSet.parse(value)
    if isinstance(default, Path):
        return Path(value)
    return value


def range_problem(option: str, key: str, value: float) -> str | None:
    """``option value: choose LO to HI`` if ``value`` is outside ``RANGES[key]`` (or not finite)."""
    lo, hi = RANGES[key]
    if (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi:
        return f"{option} {value}: choose {lo:g} to {hi:g}"
    return None


# RunOptions as command-line arguments (``swaplab run``, ``swaplab lab up``): the CLI's one source of them.
def add_arguments(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """``RunOptions``'s fields as arguments: flag, help, default and choices come from the type."""
    for f in dataclasses.fields(RunOptions):
        meta = f.metadata
        if not meta.get("flag") or (only is not None and f.name not in only):
            continue
        flags = meta["flag"].split("/")
        default = f.default_factory() if callable(f.default_factory) else f.default
        help_text = meta["help"]
        kw: dict[str, Any] = {"dest": f.name, "help": help_text}
        if isinstance(default, bool):
            kw["action"] = "store_false" if flags[-1].startswith("--no-") else "store_true"
        else:
            if default not in (None, []):
                shown = ",".join(default) if isinstance(default, list) else str(default)
                kw["help"] = f"{help_text} (default {shown})"
            kw["default"] = default
            if isinstance(default, WorkingSet):
                kw["type"] = _working_set_arg
            elif isinstance(default, list):
                kw["type"] = _names_arg
            elif isinstance(default, bool | int | float) and not isinstance(default, bool):
                kw["type"] = type(default)
            for k in ("metavar", "choices"):
                if k in meta:
                    kw[k] = meta[k]
        parser.add_argument(*flags, **kw)


def _working_set_arg(text: str) -> WorkingSet:
    try:
        return WorkingSet.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None


def _names_arg(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def from_arguments(args: argparse.Namespace) -> RunOptions:
    """The options ``add_arguments``'s arguments were parsed into."""
    names = {f.name for f in dataclasses.fields(RunOptions)}
    return RunOptions(**{k: v for k, v in vars(args).items() if k in names})
