"""One liveness prober per NAS for the whole run, shared by every blade's worker through a file.

Each blade's live watch asks "does the NAS answer?" when its blade falls silent (``fleet.watch``): a
silent blade whose NAS is silent too is an NFS outage, not a hang. Asked by every worker over ssh,
that is one ssh session per blade on the NAS's master connection; past sshd's MaxSessions (10) the
probes fail and read as "NAS out", at exactly the rack sizes where it matters. So the controller runs
one ``NasProber`` (a thread of ``swaplab run``): every ``EVERY_S`` it runs ``true`` on the NAS, bounded,
and writes what it saw, atomically, to ``nas-probe.json`` in the run directory; the workers read that
file (``read_state``, bounded, regular file only). A state older than ``STALE_S`` is no answer, and the
worker asks for itself.

Each time the NAS stops answering and comes back is one incident (start, end), kept in the file: the
run reports a NAS outage once, naming the NAS, not as a hang on every blade.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplab import atomic
from swaplab.fleet.remote import Remote, RemoteError
from swaplab.fleet.settings import Settings
from swaplab.rundir import NAS_PROBE
from swaplab.untrusted import json_strict, read_inside

EVERY_S = 5.0
TIMEOUT_S = 10.0  # the whole probe, ssh's connection set-up included: a NAS slower than this is out
STALE_S = 3 * (EVERY_S + TIMEOUT_S)
MAX_STATE_BYTES = 1 << 20
MAX_INCIDENTS = 100  # kept in the file; more are counted


@dataclass
class ProbeState:
    checked: float  # epoch of the last probe
    alive: bool
    out_since: float | None = None  # epoch the current outage began (None: the NAS answers)
    incidents: list[dict[str, float | None]] = field(default_factory=list)  # {"start", "end"}; end None: ongoing
    dropped: int = 0  # incidents beyond MAX_INCIDENTS

    def outage_during(self, start: float, end: float, min_overlap_s: float = 0.0) -> tuple[float, float | None] | None:
        """The first outage that overlapped [start, end] (by more than ``min_overlap_s``), as (start, end-or-None).

        The prober sees the NAS back only at its next probe (up to ``EVERY_S`` late): a load started just after
        the NAS came back overlaps the incident's recorded tail by that much, not the outage itself."""
        for inc in self.incidents:
            s, e = inc.get("start"), inc.get("end")
            if s is not None and min(end, e if e is not None else end) - max(start, s) > min_overlap_s:
                return s, e
            if s is not None and min_overlap_s <= 0 and s <= end and (e is None or e >= start):
                return s, e
        return None

    def outages_during(self, start: float, end: float) -> list[tuple[float, float | None]]:
        """Every outage that overlapped [start, end], as (start, end-or-None), oldest first."""
        return [(s, e) for inc in self.incidents if (s := inc.get("start")) is not None
                and s <= end and ((e := inc.get("end")) is None or e >= start)]  # fmt: skip


class NasProber(threading.Thread):
    def __init__(self, probe: Callable[[], bool], path: Path, every_s: float = EVERY_S) -> None:
        super().__init__(name="nas-prober", daemon=True)
        self.probe, self.path, self.every_s = probe, path, every_s
        self.state = ProbeState(checked=0.0, alive=True)
        self._halt = threading.Event()

    def step(self, now: float | None = None) -> ProbeState:
        """One probe, and the file written (the thread's loop; tests call it alone)."""
        alive = self.probe()
        now = time.time() if now is None else now
        st = self.state
        if not alive and st.out_since is None:
            st.out_since = now
            if len(st.incidents) < MAX_INCIDENTS:
                st.incidents.append({"start": now, "end": None})
            else:
                st.dropped += 1
        elif alive and st.out_since is not None:
            if st.incidents and st.incidents[-1]["end"] is None:
                st.incidents[-1]["end"] = now
            st.out_since = None
        st.checked, st.alive = now, alive
        atomic.write_text(self.path, json.dumps(vars(st)))
        return st

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(Exception):  # a probe that raises is a NAS that did not answer
                self.step()
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(self.every_s + TIMEOUT_S + 5)


def read_state(path: Path, now: float | None = None) -> ProbeState | None:
    """The prober's last word, or None: no file, not a regular file, too big, malformed, or stale."""
    now = time.time() if now is None else now
    try:
        doc: Any = json_strict(read_inside(path.parent, path.name, MAX_STATE_BYTES))
        incidents: list[dict[str, float | None]] = [
            {"start": float(i["start"]), "end": None if i.get("end") is None else float(i["end"])}
            for i in doc.get("incidents", [])[:MAX_INCIDENTS]
        ]
        st = ProbeState(checked=float(doc["checked"]), alive=bool(doc["alive"]),
                        out_since=None if doc.get("out_since") is None else float(doc["out_since"]),
                        incidents=incidents, dropped=int(doc.get("dropped", 0)))  # fmt: skip
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return st if math.isfinite(st.checked) and 0 <= now - st.checked <= STALE_S else None


# -- what a blade's session asks ---------------------------------------------------------------------
def alive(settings: Settings) -> bool:
    """Does the run's NAS answer? (A frozen NAS is an outage, not the blade's hang.) The run's prober says;
    only without a fresh word from it does the worker ask over ssh."""
    state = read_state(Path(settings.run_dir) / NAS_PROBE)
    if state is not None:
        return state.alive
    return answers(Remote(settings.nas, Path(settings.ssh_config), Path(settings.control_dir)))


def answers(nas: Remote) -> bool:
    """One probe: ``true`` on the NAS, the whole of it (ssh's connection set-up included) within ``TIMEOUT_S``:
    Remote.run allows a connection's set-up on top, which made a frozen NAS look alive for 33 s, past a
    30 s hang budget (the simulated rack saw it)."""
    try:
        return nas.run_bytes("true", limit=TIMEOUT_S)[0] == 0
    except RemoteError:
        return False


def outage_words(settings: Settings, since: float, min_overlap_s: float = 0.0) -> str:
    """How the run's prober saw the NAS fail since ``since`` (epoch), in words; "" if it did not."""
    state = read_state(Path(settings.run_dir) / NAS_PROBE)
    found = state.outage_during(since, time.time(), min_overlap_s) if state else None
    if found is None:
        return ""
    start, end = found
    when = time.strftime("%H:%M:%S", time.localtime(start))
    return (f"did not answer from {when} for {(end or time.time()) - start:.0f} s"
            + ("" if end is not None else " (still out)"))  # fmt: skip


def outages_in_uptime(settings: Settings, load_started: float, window: tuple[float, float] | None,
                      ) -> list[tuple[float, float]]:  # fmt: skip
    """The outages the run's prober saw during a load, in the blade's uptime (``judge``'s rule for a hung task
    waiting on the NAS). The load's first stamp was taken within its ssh start of ``load_started``; each
    outage is widened by the prober's resolution (it sees a change up to one probe and its timeout late)."""
    if not settings.nas or window is None:
        return []
    state = read_state(Path(settings.run_dir) / NAS_PROBE)
    if state is None:
        return []
    now, boot = time.time(), load_started - window[0]  # the epoch of the blade's uptime 0
    late = EVERY_S + TIMEOUT_S
    return [(s - boot - late, (now if e is None else e) - boot) for s, e in state.outages_during(load_started, now)]
