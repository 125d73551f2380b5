"""Faults, built in: what swaplab injects on the virtual lab while a load is swapping, to prove it survives.

``run --fault SCENARIO[:SECONDS]@LOAD+AFTER`` injects SCENARIO into the blade's load LOAD (a load id:
``hog-t1-nfs``, ``fio-hog-nbd``, ...) AFTER seconds into it, for SECONDS where that applies:

- ``blade-freeze``: the blade's VM is paused (QMP ``stop``): found hung by the console watch, recovered;
- ``blade-crash``: sysrq-c through the blade's console transport: a panic on the live console, recovered;
- ``nas-freeze:S``: the NAS frozen for S seconds (its VM paused, or every process of the host NAS stopped):
  an NFS and NBD outage the blade must survive;
- ``link-down:S``: the blade's lab link down for S seconds (QMP ``set_link``);
- ``nbd-kill:S``: nbd-server killed on the NAS (its systemd unit, which swaplab's role started), started
  again after S seconds: NBD errors and swap I/O errors, reported precisely;
- ``nfsd-restart``: the NAS's NFS server restarted (``systemctl restart nfs-server``, or ``nfs-ganesha``);
- ``nas-corrupt``: the NAS mixes up some of the blade's swap slots (the classic swap-over-network bug: pages
  come back from swap, but not the ones that went out). In the blade's NFS swapfile, on the NAS, it swaps
  the contents of pairs among the ``CORRUPT_PAGES`` lowest pages of the running hog's working set that are
  out in swap (found by the hog's page stamps; the lowest are out first and verified last). The hog names
  them; the run must say swap corruption, and the blade is power-cycled before its next case;
- ``nas-scribble``: the NAS overwrites every ``SCRIBBLE_EVERY``-th 4 KiB block of the blade's NFS swapfile over
  its first ``SCRIBBLE_MIB`` MiB (its header spared) with a pattern: whatever was swapped out there, any
  process's, comes back wrong. Processes die of it (PID 1 among them, often): the run must end the trial at
  the first fatal crash, name it, and bring the blade back;
- ``hog-stop``: the hog is stopped (SIGSTOP) on the blade, which stays alive (its heartbeat goes on): its
  progress stands still, and the run must call it stalled within ``--stall-after``, then recover the blade.

Each injection returns when it took effect (and, for a timed fault, when it ended), for the report's
fault timeline. Only the virtual lab's own machines are touched, through their QMP sockets and the
NAS's ssh; a rack has no such switch, and ``run`` refuses ``--fault`` there.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from swaplab.detect import Finding
from swaplab.records import FaultRecord, Recovery

SCENARIOS = {
    "blade-freeze": False,  # name -> takes a duration
    "blade-crash": False,
    "nas-freeze": True,
    "link-down": True,
    "nbd-kill": True,
    "nfsd-restart": False,
    "nas-corrupt": False,
    "nas-scribble": False,
    "hog-stop": False,
}
CORRUPT_PAGES = 64
# Runs on the NAS (python3 -c): wait until the hog's pages (stamp: b"SWPL", run, index; swaplab.agent.hog) are
# out in the swapfile, then swap the contents of pairs among the lowest-indexed ones. Prints how many.
CORRUPT_PROGRAM = """
import os, struct, sys, time
path, run, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + float(sys.argv[4])
while True:
    found = {}
    with open(path, "rb") as f:
        offset = 0
        while chunk := f.read(1 << 20):
            for o in range(0, len(chunk), 4096):
                if chunk[o:o + 4] == b"SWPL":
                    r, i = struct.unpack_from("<IQ", chunk, o + 4)
                    if r == run:
                        found[i] = offset + o
            offset += len(chunk)
    if len(found) >= 4 * want or time.monotonic() > deadline:
        break
    time.sleep(2)
slots = [found[i] for i in sorted(found)[:want - want % 2]]
if not slots:
    sys.exit(f"no page of the hog (run {run}) in {path}")
with open(path, "r+b") as f:
    for a, b in zip(slots[0::2], slots[1::2]):
        f.seek(a); pa = f.read(4096); f.seek(b); pb = f.read(4096)
        f.seek(a); f.write(pb); f.seek(b); f.write(pa)
    f.flush(); os.fsync(f.fileno())
print(len(slots))
"""
CORRUPT_WAIT_S = 150  # for the hog's pages to be out in swap
SCRIBBLE_EVERY = 8
SCRIBBLE_MIB = 96
# Runs on the NAS (python3 -c): overwrite every Nth 4 KiB block of the swapfile's first M MiB (not block 0, the
# swap header). Prints how many blocks it overwrote.
SCRIBBLE_PROGRAM = """
import os, sys
path, every, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blocks = min(os.path.getsize(path), mib << 20) // 4096
junk = b"SWAPLAB-SCRIBBLE" * 256
n = 0
with open(path, "r+b") as f:
    for b in range(every, blocks, every):
        f.seek(b * 4096); f.write(junk); n += 1
    f.flush(); os.fsync(f.fileno())
print(n)
"""
NAS_COMMAND_S = 60  # a fault's command on the NAS (the corruption's also waits CORRUPT_WAIT_S)
_SPEC = re.compile(r"(?P<scenario>[a-z-]+)(?::(?P<duration>\d+))?@(?P<load>[a-z0-9-]+)\+(?P<after>\d+)")


@dataclass(frozen=True)
class FaultSpec:
    scenario: str
    load: str  # the load id it is injected into
    after_s: float  # seconds into that load
    duration_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``SCENARIO[:SECONDS]@LOAD+AFTER``; ValueError naming the forms."""
        m = _SPEC.fullmatch(text.strip())
        forms = (f"give SCENARIO[:SECONDS]@LOAD+AFTER, e.g. blade-freeze@hog-t1-nfs+20 or nas-freeze:60@hog-t1-nfs+10; "
                 f"scenarios: {', '.join(SCENARIOS)}")  # fmt: skip
        if m is None or m["scenario"] not in SCENARIOS:
            raise ValueError(forms)
        timed = SCENARIOS[m["scenario"]]
        if timed and not m["duration"]:
            raise ValueError(f"{m['scenario']} needs a duration (:SECONDS); {forms}")
        if not timed and m["duration"]:
            raise ValueError(f"{m['scenario']} takes no duration; {forms}")
        duration = float(m["duration"] or 0)
        if timed and not 1 <= duration <= 3600:
            raise ValueError(f"{m['scenario']}:{m['duration']}: choose 1 to 3600 seconds")
        return cls(m["scenario"], m["load"], float(m["after"]), duration)

    def __str__(self) -> str:
        d = f":{self.duration_s:.0f}" if self.duration_s else ""
        return f"{self.scenario}{d}@{self.load}+{self.after_s:.0f}"


@dataclass
class Injection:
    """When a fault took effect and ended (wall clock), or why it could not be injected."""

    spec: FaultSpec
    injected_at: float | None = None
    ended_at: float | None = None
    error: str = ""
    detail: str = ""  # what the fault did, where it says more than its name


@dataclass
class LabHandles:
    """How the fault reaches the lab: the blade's QMP socket, the console, the NAS (frozen, its shell)."""

    blade_qmp: Path
    nas_freeze: Callable[[bool], None]  # stop (True) or continue (False) the NAS, VM or container
    sysrq: Callable[[str], None]  # the blade's console transport
    # Run a command on the NAS as root within the seconds given (raises on failure); its stdout.
    nas_shell: Callable[[str, float], str]
    nfs_service: str = "nfs-server"  # the NAS's NFS server unit (nfs-ganesha on the host NAS)
    # nas-corrupt: the running hog's run number and its NFS swapfile as the NAS names it (raises if unknown)
    hog_swapfile: Callable[[], tuple[int, str]] | None = None
    hog_stop: Callable[[], int] | None = None  # hog-stop: SIGSTOP to the running hog; its pid


def inject(spec: FaultSpec, lab: LabHandles) -> Injection:
    """Inject ``spec`` now; return once it has taken effect and, if timed, ended."""
    from swaplab.drivers.qmpdriver import QMPPowerDriver

    out = Injection(spec)
    try:
        if spec.scenario == "blade-freeze":
            QMPPowerDriver(str(lab.blade_qmp)).pause()
            out.injected_at = time.time()
        elif spec.scenario == "blade-crash":
            out.injected_at = time.time()
            lab.sysrq("c")
        elif spec.scenario == "nas-freeze":
            lab.nas_freeze(True)
            out.injected_at = time.time()
            try:
                time.sleep(spec.duration_s)
            finally:
                lab.nas_freeze(False)
            out.ended_at = time.time()
        elif spec.scenario == "link-down":
            blade = QMPPowerDriver(str(lab.blade_qmp))
            blade.qmp.execute("set_link", {"name": "lab", "up": False})
            out.injected_at = time.time()
            try:
                time.sleep(spec.duration_s)
            finally:
                blade.qmp.execute("set_link", {"name": "lab", "up": True})
            out.ended_at = time.time()
        elif spec.scenario == "nbd-kill":
            lab.nas_shell("systemctl kill --signal=KILL nbd-server", NAS_COMMAND_S)
            out.injected_at = time.time()
            time.sleep(spec.duration_s)
            # restart, not start: Debian's nbd-server unit is generated from its init script and stays
            # "active (exited)" after its processes are killed, so `start` would be a no-op.
            lab.nas_shell("systemctl restart nbd-server", NAS_COMMAND_S)
            out.ended_at = time.time()
        elif spec.scenario == "nfsd-restart":
            out.injected_at = time.time()
            lab.nas_shell(f"systemctl restart {lab.nfs_service}", NAS_COMMAND_S)
            out.ended_at = time.time()
        elif spec.scenario == "nas-corrupt":
            if lab.hog_swapfile is None:
                raise RuntimeError("no way to find the hog's swapfile")
            run, swapfile = lab.hog_swapfile()
            argv = [swapfile, str(run), str(CORRUPT_PAGES), str(CORRUPT_WAIT_S)]
            said = lab.nas_shell(f"python3 -c {shlex.quote(CORRUPT_PROGRAM)} {' '.join(map(shlex.quote, argv))}",
                                 NAS_COMMAND_S + CORRUPT_WAIT_S)  # fmt: skip
            out.injected_at = time.time()
            out.detail = f"{said.strip()} page(s) of the hog (run {run}) mixed up in pairs in {swapfile}"
        elif spec.scenario == "nas-scribble":
            if lab.hog_swapfile is None:
                raise RuntimeError("no way to find the blade's swapfile")
            _, swapfile = lab.hog_swapfile()
            argv = [swapfile, str(SCRIBBLE_EVERY), str(SCRIBBLE_MIB)]
            said = lab.nas_shell(f"python3 -c {shlex.quote(SCRIBBLE_PROGRAM)} {' '.join(map(shlex.quote, argv))}",
                                 NAS_COMMAND_S)  # fmt: skip
            out.injected_at = time.time()
            out.detail = (
                f"{said.strip()} blocks of 4 KiB overwritten in {swapfile} (every {SCRIBBLE_EVERY}th, first "
                f"{SCRIBBLE_MIB} MiB)"
            )
        elif spec.scenario == "hog-stop":
            if lab.hog_stop is None:
                raise RuntimeError("no way to reach the blade's hog")
            pid = lab.hog_stop()
            out.injected_at = time.time()
            out.detail = f"the hog (pid {pid}) stopped with SIGSTOP"
    except Exception as e:
        out.error = f"{type(e).__name__}: {e}"
    return out


class FaultTimer:
    """Inject ``spec`` ``spec.after_s`` seconds from now, in a thread of its own (a load runs meanwhile).
    A ``swaplab.fleet.hooks.ArmedFault``: the blade session starts it, finishes it and asks for its record."""

    def __init__(self, spec: FaultSpec, lab: LabHandles) -> None:
        self.spec, self.lab = spec, lab
        self.result: Injection | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"fault-{spec.scenario}")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if not self._cancel.wait(self.spec.after_s):
            self.result = inject(self.spec, self.lab)

    def finish(self) -> None:
        """Wait for a timed fault to end (its duration and a minute at most); cancel one not injected yet."""
        self._cancel.set()
        self._thread.join(self.spec.duration_s + 60)

    def record(self, load_started: float, arrivals: Sequence[tuple[float, Finding]], detected_at: float | None,
               recovery: Recovery | None) -> FaultRecord:  # fmt: skip
        return fault_record(self.spec, self.result, load_started, arrivals, detected_at, recovery)


def fault_record(spec: FaultSpec, injection: Injection | None, load_started: float,
                 arrivals: Sequence[tuple[float, Finding]], detected_at: float | None,
                 recovery: Recovery | None) -> FaultRecord:  # fmt: skip
    """The fault's timeline, in seconds into its load: injected, ended, first symptom (the first failure or
    warning the live watch saw after the injection; ``arrivals`` are (epoch, finding)), detected (when the
    watch ended the load), recovered."""

    def rel(t: float | None) -> float | None:
        return round(t - load_started, 1) if t is not None else None

    if injection is None or injection.injected_at is None:
        why = injection.error if injection is not None else "the load ended before the fault was due"
        return FaultRecord(spec=str(spec), scenario=spec.scenario, load=spec.load, error=why or "not injected")
    symptom = next(((at, f) for at, f in arrivals if at >= injection.injected_at
                    and f.severity in ("fail", "warn")), None)  # fmt: skip
    recovered = None
    if detected_at is not None and recovery is not None and recovery.recovered and recovery.recovery_s is not None:
        recovered = detected_at + recovery.recovery_s
    return FaultRecord(spec=str(spec), scenario=spec.scenario, load=spec.load, injected_at_s=rel(injection.injected_at),
                       ended_at_s=rel(injection.ended_at), first_symptom_at_s=rel(symptom[0]) if symptom else None,
                       first_symptom=f"{symptom[1].kind}: {symptom[1].text[:200]}" if symptom else "",
                       detected_at_s=rel(detected_at), recovered_at_s=rel(recovered) if recovered else None,
                       error=injection.error, detail=injection.detail)  # fmt: skip
