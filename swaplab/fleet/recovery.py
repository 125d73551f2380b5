"""A blade brought back: after a killed controller (``settle``), and after a hang, a panic, a fatal
userspace crash, a stall or memory gone bad (``recover``).

Such a blade recovered: the evidence first (blocked tasks, console tail, and from a blade that still
answers its journal), then a power-cycle into the kernel under test with its swap restored, at most
``--max-recoveries`` at a time across the run; a blade that cannot be recovered, or is recovered
``--max-hangs`` times, is quarantined."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from swaplab import slots
from swaplab.fleet.loads import LoadOutcome, kill_leftovers
from swaplab.fleet.remote import RemoteError
from swaplab.fleet.settings import InfraError
from swaplab.fleet.watch import ConsoleWatch
from swaplab.records import Recovery

if TYPE_CHECKING:
    from swaplab.fleet.session import BladeSession

# How long a hung blade waits for a recovery slot (--max-recoveries) before it is quarantined instead:
# a whole rack queued behind K slots at ~3 min a recovery takes about this long.
RECOVERY_QUEUE_S = 3600.0
CONSOLE_TAIL_BYTES = 20000
SETTLE_S = 600.0  # a resumed run waits this long for a blade busy with a killed controller's load
# Ends after which the blade may still answer ssh: its journal is kept before the power-cycle.
ANSWERS = frozenset({"crashed", "stalled", "memory-bad"})
JOURNAL_LINES = 2000
JOURNAL_S = 20.0


def settle(blade: BladeSession, budget_s: float = SETTLE_S) -> None:
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
    blade.down = f"a resumed run's first contact (no answer within {budget_s:.0f} s: {last})"


def recover(blade: BladeSession, load_id: str, outcome: LoadOutcome, watch: ConsoleWatch) -> Recovery:
    opts = blade.settings.options
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
    blade.hangs += 1
    blade.forget_connection()  # the ssh master to the dead blade, and what was learnt through it
    t0 = time.monotonic()
    queued = 0.0
    try:
        with slots.slot(Path(blade.settings.run_dir), "recovery", opts.max_recoveries, RECOVERY_QUEUE_S) as queued:
            if queued >= 1:
                blade.progress(f"{load_id}: waited {queued:.0f} s for one of --max-recoveries "
                               f"{opts.max_recoveries} recovery slots")  # fmt: skip
            recovered, why = blade._reprovision(outcome.local_dir)
    except slots.SlotTimeout as e:
        recovered, why = False, str(e)
    seconds = round(time.monotonic() - t0 - queued, 1)
    if recovered:
        blade.start = {}
        try:
            blade.baseline()  # counters restart with the kernel: the health suite compares from here
        except InfraError as e:
            recovered, why = False, f"the blade did not answer after recovery: {e}"
    quarantined = ""
    if not recovered:
        quarantined = f"recovery after {load_id} failed: {why}"
    elif blade.hangs >= opts.max_hangs:
        quarantined = f"hung or panicked {blade.hangs} times in this run (--max-hangs {opts.max_hangs})"
    if quarantined:
        blade.quarantined = quarantined
    blade.progress(f"{load_id}: " + (f"quarantined: {quarantined}" if quarantined else f"recovered in {seconds:.0f} s"))
    return Recovery(load=load_id, status=watch.status or outcome.status, reason=watch.reason, detected_at_s=detected,
                    evidence=tuple(evidence), recovered=recovered, recovery_s=seconds,
                    queued_s=round(queued, 1), quarantined=quarantined)  # fmt: skip
