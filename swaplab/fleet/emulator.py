"""The emulator's own stalls (virtual blades): an RCU stall or lockup while the host starved the blade's
QEMU of CPU is the emulator's, not the kernel's. Reported as an infrastructure error with the figures,
never as a kernel failure, and never passed over in silence."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from swaplab.detect import Finding
from swaplab.fleet.hooks import HostLoadProbe
from swaplab.fleet.judge import FAIL_KINDS

EMULATOR_STALL_KINDS = frozenset({"rcu_stall", "soft_lockup", "hard_lockup"})


def emulator_stall(name: str, load_id: str, findings: Sequence[Finding], arrivals: Sequence[tuple[float, Finding]],
                   hostload: HostLoadProbe, local_dir: Path) -> str | None:  # fmt: skip
    """Why the load's stalls are the emulator's (its figures written to ``host-load.json``), or None: some
    failure is not a stall, or one arrived while the host was not starved. ``arrivals``: when the live
    watch saw each finding (epoch)."""
    fails = [f for f in findings if f.kind in FAIL_KINDS]
    if not fails or any(f.kind not in EMULATOR_STALL_KINDS for f in fails):
        return None
    seen = {(f.kind, f.text): at for at, f in arrivals}
    end = hostload.last_at() or time.time()
    starved = [hostload.starved(seen.get((f.kind, f.text), end)) for f in fails]
    if any(p is None for p in starved):
        return None
    pressure, cpu_s, wall = hostload.figures()
    figures = {"stalls": [f"{f.kind}: {f.text[:200]}" for f in fails], "host_cpu_pressure_before_pct":
               [round(p or 0.0, 1) for p in starved], "host_cpu_pressure_load_pct": pressure,
               "emulator_cpu_s": cpu_s, "wall_s": round(wall, 1)}  # fmt: skip
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / "host-load.json").write_text(json.dumps(figures, indent=1))
    return (
        f"{name}: {', '.join(sorted({f.kind for f in fails}))} during {load_id} coincide with the emulator's "
        f"starvation, not the kernel's: the host's CPU pressure was {max(p or 0 for p in starved):.0f}% in the "
        f"minute before (over {hostload.starved_pct:.0f}% counts), and the blade's QEMU got "
        f"{cpu_s if cpu_s is not None else float('nan'):.0f} s of CPU in {wall:.0f} s. Rerun on a quieter host "
        f"(figures: {local_dir / 'host-load.json'})"
    )
