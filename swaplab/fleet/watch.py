"""The live watch of a blade's console while a load runs: a panic ends the load at once, a silence is a hang.

``ConsoleWatch`` follows the console (whichever console driver the blade has) from the load's start
and feeds every line to the detectors as it arrives:

- a panic, an oops or a BUG ends the load (``abort`` is set, ``status`` says why): nobody waits out
  the budget on a dead blade; so does a fatal userspace crash (PID 1's, the load's own process's, or
  ``CRASHES_FATAL`` processes dying of faults in their own memory): "crashed";
- the blade-side heartbeat (the sampler writes ``swaplab: heartbeat N`` to /dev/kmsg every few
  seconds) and any other console output count as signs of life. Nothing at all for longer than
  ``hung_after_s`` is a hang, unless the kernel's last word was that its NFS server is not
  responding: that is an outage of the NAS (the root and the swap), waited out as before and reported
  as such;
- every finding is kept with its arrival time (wall clock), for the report.

Pure logic in ``observe`` (a line and the time it arrived) and ``check`` (the time now), so that the
rules are tested without a console; ``run`` is the thread that feeds them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swaplab.detect.detector import Detector, Finding
from swaplab.detect.lines import ANSI_RE
from swaplab.drivers.protocols import ConsoleProtocol
from swaplab.textsafe import visible

# Findings that end a load at once: the blade is dead or its kernel is broken.
FATAL_KINDS = frozenset({"panic", "oops", "kernel_bug"})
# Userspace crashes that end a load ("crashed"): PID 1's (the blade is finished as surely as after a panic), a
# load's own process's (by its name: the hog and the sampler are python3, fio, the job's timeout), or this many
# processes dying of faults in their own memory (memory corruption: nothing the blade runs can be trusted).
LOAD_COMMS = frozenset({"python3", "fio", "timeout", "job.sh"})
CRASHES_FATAL = 3
HEARTBEAT = "swaplab: heartbeat"
DEFAULT_HUNG_AFTER_S = 150.0
LAST_SAID_CHARS = 160  # of the console's last line, in a hang's message
MAX_ARRIVALS_SAVED = 1000  # findings kept in watch.json (the count of the rest is kept)
NAS_PROBE_EVERY_S = 15.0  # hung_task_timeout_secs (120, the suites' ceiling) + 30 s


@dataclass
class Arrival:
    finding: Finding
    at: float  # wall clock (time.time())


@dataclass
class ConsoleWatch:
    console: ConsoleProtocol
    mark: int
    source: str
    hung_after_s: float = DEFAULT_HUNG_AFTER_S
    started: float = field(default_factory=time.time)
    abort: threading.Event = field(default_factory=threading.Event)
    status: str = ""  # "panic", "crashed" or "hung" once the watch ended the load ("stalled": the runner did)
    reason: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    heartbeats: int = 0
    last_output: float = 0.0
    said_at: float | None = None  # when the console last said anything (wall clock), and the raw line
    last_line: str = ""
    heartbeat_at: float | None = None
    nfs_down_since: float | None = None
    ended_at: float | None = None  # when the watch ended the load
    stopped_at: float | None = None  # when the load was over and the watch stopped
    # Does the NAS answer? Asked when the blade falls silent: the kernel says "nfs: server not responding"
    # only after its major timeout (180 s at timeo=600,retrans=2), later than a hang budget.
    nas_alive: Callable[[], bool] | None = None
    nas_out_seen: int = 0  # how often the NAS did not answer while the blade was silent
    _nas_probed: float = 0.0
    _nas_out: bool = False  # at the last probe

    def __post_init__(self) -> None:
        self.detector = Detector(self.source, "dmesg")  # console lines are dmesg lines (CR LF, escapes allowed)
        self.last_output = self.started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, daemon=True, name=f"watch-{self.source}")

    # -- the rules -------------------------------------------------------------------------------
    def observe(self, line: str, now: float) -> None:
        self.last_output = now
        # Kept raw: cleaned only if a hang is told (every console line passes here).
        if (text := line.strip()) and ("\x1b" not in text or ANSI_RE.sub("", text).strip()):
            self.said_at, self.last_line = now, line
        if HEARTBEAT in line:
            self.heartbeats += 1
            self.heartbeat_at = now
        for f in self.detector.feed(line):
            self.arrivals.append(Arrival(f, now))
            if f.kind == "nfs_not_responding":
                self.nfs_down_since = self.nfs_down_since or now
            elif f.kind == "nfs_recovered":
                self.nfs_down_since = None
            if f.kind in FATAL_KINDS and not self.abort.is_set():
                self._end("panic", f"{f.kind} on the console: {f.text[:300]}")
            elif f.kind == "userspace_crash" and not self.abort.is_set() and (why := self._fatal_crash(f)):
                self._end("crashed", f"{why}, {now - self.started:.0f} s into the load: {f.text[:300]}")

    def _fatal_crash(self, f: Finding) -> str:
        """Why this userspace crash ends the load ("" if it does not)."""
        comm, pid = str(f.fields.get("comm", "")), str(f.fields.get("pid", ""))
        if pid == "1":
            return f"PID 1 ({comm}) crashed: the blade can run nothing more"
        if comm in LOAD_COMMS:
            return f"the load's own process {comm}[{pid}] crashed"
        crashes = sum(1 for a in self.arrivals if a.finding.kind == "userspace_crash")
        if crashes >= CRASHES_FATAL:
            return f"{crashes} processes died of faults in their own memory (memory corruption suspected)"
        return ""

    def state(self, now: float) -> str:
        """What the blade showed of itself, for a load ended while it seemed alive: its last heartbeat and what
        its console last said, in seconds into the load and before now."""
        beat = "no heartbeat during the load"
        if self.heartbeat_at is not None:
            beat = (f"its last heartbeat {self.heartbeat_at - self.started:.0f} s into the load, "
                    f"{now - self.heartbeat_at:.0f} s ago ({self.heartbeats} in all)")  # fmt: skip
        last_said = visible(ANSI_RE.sub("", self.last_line).strip(), one_line=True)[:LAST_SAID_CHARS]
        said = (f"its console last said {last_said!r} {self.said_at - self.started:.0f} s into the load"
                if self.said_at is not None else "its console said nothing during the load")  # fmt: skip
        return f"{beat}; {said}"

    def check(self, now: float) -> None:
        silent = now - self.last_output
        if self.abort.is_set() or silent <= self.hung_after_s:
            return
        if self.nfs_down_since is not None:
            return  # the NAS is not answering: an outage, waited out by the load's own budget
        if self.nas_alive is not None:
            if now - self._nas_probed < NAS_PROBE_EVERY_S and self._nas_out:
                return  # the NAS was out at the last probe
            self._nas_probed = now
            if not self.nas_alive():
                self.nas_out_seen += 1
                self._nas_out = True
                return  # the NAS itself is silent: an outage, not the blade's hang
            if self._nas_out:
                # The NAS is back: the blade's NFS client resumes at its next retransmission (timeo=600:
                # up to 60 s later). The hang budget starts again from the NAS's return.
                self._nas_out = False
                self.last_output = now
                return
        self._end("hung", self.silence(now))

    def silence(self, now: float) -> str:
        """A hang in words: how long the blade was silent, since when into the load and after what (its last
        console line, its last heartbeat, the userspace crashes it reported), never more than it saw."""
        silent = now - self.last_output
        last_said = visible(ANSI_RE.sub("", self.last_line).strip(), one_line=True)[:LAST_SAID_CHARS]
        said = (f"its console last said {last_said!r}, {self.said_at - self.started:.0f} s into the load"
                if self.said_at is not None else "its console said nothing since the load started")  # fmt: skip
        beat = (f"last heartbeat {self.heartbeat_at - self.started:.0f} s into the load ({self.heartbeats} in all)"
                if self.heartbeat_at is not None else "no heartbeat during the load")  # fmt: skip
        crashes = [a.finding for a in self.arrivals if a.finding.kind == "userspace_crash"]
        after = ""
        if crashes:
            names = ", ".join(f"{c.fields.get('comm', '?')}[{c.fields.get('pid', '?')}]" for c in crashes[:4])
            after = f"; before that, {len(crashes)} userspace crash(es) ({names}{', ...' if len(crashes) > 4 else ''})"
        return f"silent for {silent:.0f} s, past the hang budget of {self.hung_after_s:.0f} s: {said}; {beat}{after}"

    def _end(self, status: str, reason: str) -> None:
        self.status, self.reason = status, reason
        self.ended_at = time.time()
        self.abort.set()

    # -- the thread ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.stopped_at = time.time()

    def run(self) -> None:
        offset = self.mark
        pending = b""
        while not self._stop.is_set():
            data = self.console.since(offset)
            offset += len(data)
            pending += data
            *lines, pending = pending.split(b"\n")
            now = time.time()
            for raw in lines:
                self.observe(raw.decode("utf-8", "replace"), now)
            self.check(now)
            self._stop.wait(0.5)

    def save(self, path: Path) -> None:
        """``to_json`` written to ``path`` (the load's ``watch.json``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1))

    def to_json(self) -> dict[str, object]:
        """What the live watch saw, and when (wall clock): the load's ``watch.json``, for a person asking
        how soon a finding was seen, and for the rack benchmark's console latency."""
        return {"source": self.source, "started": self.started, "status": self.status, "reason": self.reason,
                "ended_at": self.ended_at, "stopped_at": self.stopped_at, "heartbeats": self.heartbeats,
                "nas_out_seen": self.nas_out_seen,
                "arrivals": [{"kind": a.finding.kind, "severity": str(a.finding.severity), "text": a.finding.text[:300],
                              "at": a.at} for a in self.arrivals[:MAX_ARRIVALS_SAVED]],
                "arrivals_not_saved": max(0, len(self.arrivals) - MAX_ARRIVALS_SAVED)}  # fmt: skip

    def seconds_into_load(self, a: Arrival) -> float:
        return round(a.at - self.started, 1)
