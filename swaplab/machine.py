"""What the machine could do when a run started: a short calibration of the controller host and of each
blade, recorded in ``results.json`` (``options.machine``), so that two runs on different machines are not
compared as if they were one.

The same code and kernel took 7.6 min on one 2-core machine and 22 min on another of the same kind, with
an interval 3.5 times as wide: trial times are the machine's as much as the kernel's. The calibration is
one figure each side, cheap enough for every run: the rate at which one core hashes memory (SHA-256, the
best of a few short rounds: the host's CPU, its frequency and whatever else shares it), the cores, and
for the virtual lab whether the blades are emulated. ``differences`` says, in words, where two runs'
machines were apart by more than ``TOLERANCE_PCT``.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from swaplab.textsafe import visible

TOLERANCE_PCT = 25.0  # one machine's calibration varies by under 10% run to run (bench/README.md)
HASH_MIB = 16
ROUNDS = 3
# The blade's calibration: the same measure, in the blade's own python3 (the sampler's), on 4 MiB:
# an emulated blade hashes some 50-100 times slower than its host. One line: a rate in MB/s, and nproc.
BLADE_COMMAND = (
    "python3 -c 'import hashlib,os,time\n"
    "b=bytes(4<<20);best=0\n"
    "for _ in range(3):\n"
    " t=time.perf_counter();hashlib.sha256(b).digest();d=time.perf_counter()-t\n"
    " best=max(best,4/d if d>0 else 0)\n"
    "print(round(best,1),os.cpu_count())'"
)


def hash_rate(mib: int = HASH_MIB, rounds: int = ROUNDS) -> float:
    """MiB/s at which one core hashes ``mib`` MiB of memory: the best of ``rounds``."""
    block = bytes(mib << 20)
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        hashlib.sha256(block).digest()
        took = time.perf_counter() - t
        best = max(best, mib / took if took > 0 else 0.0)
    return round(best, 1)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", "rb") as f:
            text = f.read(1 << 20).decode(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()[:120]
    return ""


def host() -> dict[str, Any]:
    """The controller's calibration: cores it may use, the CPU, the load when the run began, the hash rate,
    and whether KVM was there (the virtual lab's blades run under TCG either way)."""
    try:
        load1 = round(os.getloadavg()[0], 2)
    except OSError:
        load1 = None
    return {"cpus": len(os.sched_getaffinity(0)), "cpu_model": cpu_model(), "load1": load1,
            "hash_mib_s": hash_rate(), "kvm": os.path.exists("/dev/kvm")}  # fmt: skip


def parse_blade(out: str) -> dict[str, Any] | None:
    """``BLADE_COMMAND``'s output (untrusted): ``{"hash_mib_s", "cpus"}``, or None if it is not that."""
    parts = out.strip().split()
    if len(parts) != 2:
        return None
    try:
        rate, cpus = float(parts[0]), int(parts[1])
    except ValueError:
        return None
    if not (0 < rate < 1e6 and 0 < cpus < 1 << 16):
        return None
    return {"hash_mib_s": rate, "cpus": cpus}


def _rate(doc: object) -> float | None:
    value = doc.get("hash_mib_s") if isinstance(doc, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def _apart(label: str, a: object, b: object) -> str | None:
    ra, rb = _rate(a), _rate(b)
    if ra is None or rb is None:
        return None
    pct = 100.0 * abs(rb - ra) / min(ra, rb)
    if pct <= TOLERANCE_PCT:
        return None
    return f"{label} hashed {ra:g} MiB/s on the baseline, {rb:g} on the candidate ({pct:.0f}% apart)"


def differences(base: object, cand: object) -> list[str]:
    """Where two runs' machines (``options.machine`` of each, untrusted) were apart, in words; empty when
    they look alike or one run did not record its machine (``unrecorded`` says that)."""
    if not isinstance(base, dict) or not isinstance(cand, dict):
        return []
    out = []
    bh, ch = base.get("host"), cand.get("host")
    if isinstance(bh, dict) and isinstance(ch, dict):
        if bh.get("cpus") != ch.get("cpus") and isinstance(bh.get("cpus"), int) and isinstance(ch.get("cpus"), int):
            out.append(f"the controller had {bh['cpus']} core(s) on the baseline, {ch['cpus']} on the candidate")
        if (line := _apart("the controller", bh, ch)) is not None:
            out.append(line)
    bb, cb = base.get("blades"), cand.get("blades")
    if isinstance(bb, dict) and isinstance(cb, dict):
        for name in sorted(set(bb) & set(cb), key=str)[:1000]:
            if (line := _apart(f"blade {visible(str(name))[:64]}", bb[name], cb[name])) is not None:
                out.append(line)
    return out


def unrecorded(base: object, cand: object) -> str | None:
    """Words when one run recorded its machine and the other did not (a run from before it was recorded)."""
    if isinstance(base, dict) == isinstance(cand, dict):
        return None
    which = "baseline" if not isinstance(base, dict) else "candidate"
    return f"the {which} run recorded no machine calibration: whether both ran on alike machines is unknown"
