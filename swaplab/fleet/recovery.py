"""A blade brought back: after a killed controller (``settle``), and after a hang, a panic, a fatal
userspace crash, a stall or memory gone bad (``recover``).

Such a blade recovered: the evidence first (blocked tasks, console tail, and from a blade that still
answers its journal), then a power-cycle into the kernel under test with its swap restored, at most
``--max-recoveries`` at a time across the run; a blade that cannot be recovered, or is recovered
``--max-hangs`` times, is quarantined."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from swaplab import slots
from swaplab.fleet.blade_console import BladeConsole
from swaplab.fleet.life import Life, State
from swaplab.fleet.loads import LoadOutcome, kill_leftovers
from swaplab.fleet.remote import Remote, RemoteError
from swaplab.fleet.settings import InfraError, Settings
from swaplab.fleet.watch import ConsoleWatch
from swaplab.records import Recovery


class Recoverable(Protocol):
    """What a recovery needs of a blade's session, and all it touches: its life moves through the
    recovery's states; nothing else of the session is written here."""

    name: str
    settings: Settings
    con: BladeConsole
    remote: Remote
    life: Life

    def progress(self, message: str) -> None: ...
    def lost(self, why: str) -> None: ...
    def forget_connection(self) -> None: ...
    def power_cycle(self, local_dir: Path) -> tuple[bool, str]: ...
    def fresh_baseline(self) -> dict[str, Any]: ...


# How long a hung blade waits for a recovery slot (--max-recoveries) before it is quarantined instead:
# a whole rack queued behind K slots at ~3 min a recovery takes about this long.
RECOVERY_QUEUE_S = 3600.0
CONSOLE_TAIL_BYTES = 20000
SETTLE_S = 600.0  # a resumed run waits this long for a blade busy with a killed controller's load
# Ends after which the blade may still answer ssh: its journal is kept before the power-cycle.
ANSWERS = frozenset({"crashed", "stalled", "memory-bad"})
JOURNAL_LINES = 2000
JOURNAL_S = 20.0


def settle(blade: Recoverable, budget_s: float = SETTLE_S) -> None:
    """A resumed run's first contact: stop the loads the killed controller left running (they keep the
    blade too busy to answer ssh), retrying within ``budget_s``; then the blade is down if still silent."""
    deadline = time.monotonic() + budget_s
    last = ""
    while time.monotonic() < deadline:
        try:
            blade.remote.run(kill_leftovers(), timeout=60)
            return
        except RemoteError as e:
            last = str(e)
            time.sleep(5)
    blade.lost(f"a resumed run's first contact (no answer within {budget_s:.0f} s: {last})")


def recover(blade: Recoverable, load_id: str, outcome: LoadOutcome, watch: ConsoleWatch) -> Recovery:
    """The blade's life stands at hung or crashed (``Life.ended``): evidence, a slot, the power-cycle, and
    up again, or quarantined."""
    opts = blade.settings.options
    blade.life.to(State.EVIDENCE, load_id)
    detected = round(time.time() - watch.started, 1)
    blade.progress(f"{load_id}: {outcome.status} ({watch.reason[:120]}); recovering the blade")
    evidence = []
    for key in ("w", "t"):
        try:
            answer = blade.con.sysrq(key)
        except InfraError as e:
            answer = f"sysrq {key} could not be sent: {e}\n".encode()
        path = outcome.local_dir / f"sysrq-{key}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(answer)
        evidence.append(str(path))
    tail = outcome.local_dir / "console-tail.log"
    tail.write_bytes(blade.con.since_start()[-CONSOLE_TAIL_BYTES:])
    evidence.append(str(tail))
    if watch.status in ANSWERS:  # a blade that still answers: its journal (PID 1's crash is told only there)
        try:
            r = blade.remote.run(f"journalctl -b --no-pager -o short-precise -n {JOURNAL_LINES}", timeout=JOURNAL_S)
            journal = r.stdout if r.rc == 0 else f"journalctl exited {r.rc}: {r.stderr[-400:]}\n"
        except RemoteError as e:
            journal = f"the journal could not be read: {e}\n"
        path = outcome.local_dir / "journal-tail.log"
        path.write_text(journal[-CONSOLE_TAIL_BYTES * 5 :])
        evidence.append(str(path))
    blade.forget_connection()  # the ssh master to the dead blade, and what was learnt through it
    blade.life.to(State.QUEUED, load_id)
    t0 = time.monotonic()
    queued = 0.0
    try:
        with slots.slot(Path(blade.settings.run_dir), "recovery", opts.max_recoveries, RECOVERY_QUEUE_S) as queued:
            if queued >= 1:
                blade.progress(f"{load_id}: waited {queued:.0f} s for one of --max-recoveries "
                               f"{opts.max_recoveries} recovery slots")  # fmt: skip
            recovered, why = blade.power_cycle(outcome.local_dir)
    except slots.SlotTimeout as e:
        recovered, why = False, str(e)
    seconds = round(time.monotonic() - t0 - queued, 1)
    if recovered:
        blade.life.to(State.POWER_CYCLED, load_id)
        try:
            blade.fresh_baseline()  # counters restart with the kernel: the health suite compares from here
        except InfraError as e:
            recovered, why = False, f"the blade did not answer after recovery: {e}"
    quarantined = ""
    if not recovered:
        quarantined = f"recovery after {load_id} failed: {why}"
    elif blade.life.hangs >= opts.max_hangs:
        quarantined = f"hung or panicked {blade.life.hangs} times in this run (--max-hangs {opts.max_hangs})"
    if quarantined:
        blade.life.to(State.QUARANTINED, quarantined)
    else:
        blade.life.to(State.UP, "recovered")
    blade.progress(f"{load_id}: " + (f"quarantined: {quarantined}" if quarantined else f"recovered in {seconds:.0f} s"))
    return Recovery(load=load_id, status=watch.status or outcome.status, reason=watch.reason, detected_at_s=detected,
                    evidence=tuple(evidence), recovered=recovered, recovery_s=seconds,
                    queued_s=round(queued, 1), quarantined=quarantined)  # fmt: skip
