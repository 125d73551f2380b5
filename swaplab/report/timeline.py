"""A load's timeline: the sampler's CSV (``agent/sampler.py``) read back, counters turned into rates (pure).

The blade writes one row a second: the kernel's uptime, cumulative /proc/vmstat counters and
/proc/meminfo levels. ``Timeline`` gives each row's time from the load's start and, per interval,
the swap-out and swap-in rates in MiB/s; free memory and swap used in MiB. A row cut short (the
blade hung mid-write) is dropped, and so is anything that is not a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swaplab.untrusted import read_inside

PAGE_KIB = 4  # x86-64 pages: pswpin/pswpout count pages


@dataclass
class Timeline:
    t_s: list[float] = field(default_factory=list)  # seconds after the first sample (the load's start)
    uptime_s: list[float] = field(default_factory=list)
    swap_out_mib_s: list[float] = field(default_factory=list)  # per interval, at its end; 0 at the first row
    swap_in_mib_s: list[float] = field(default_factory=list)
    mem_free_mib: list[float] = field(default_factory=list)
    swap_used_mib: list[float] = field(default_factory=list)
    oom_kill: list[int] = field(default_factory=list)
    swap_total_mib: float | None = None

    def __len__(self) -> int:
        return len(self.t_s)


def _rows(text: str) -> list[dict[str, float]]:
    """A sampler CSV's rows by column name; a row cut short (the blade hung mid-write) or not numeric is
    dropped."""
    lines = text.splitlines()
    if not lines:
        return []
    header = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) != len(header):
            continue
        try:
            rows.append({k: float(v) for k, v in zip(header, cells, strict=True)})
        except ValueError:
            continue
    return rows


def parse(text: str, swap_total_kib: int | None = None) -> Timeline:
    """The sampler's CSV. ``swap_total_kib``: the blade's SwapTotal, to turn SwapFree into swap used."""
    rows = _rows(text)
    tl = Timeline(swap_total_mib=swap_total_kib / 1024 if swap_total_kib else None)
    if not rows or "uptime_s" not in rows[0]:
        return tl
    t0 = rows[0]["uptime_s"]
    prev: dict[str, float] | None = None
    for r in rows:
        tl.t_s.append(round(r["uptime_s"] - t0, 3))
        tl.uptime_s.append(r["uptime_s"])
        dt = r["uptime_s"] - prev["uptime_s"] if prev else 0.0
        for key, out in (("pswpout", tl.swap_out_mib_s), ("pswpin", tl.swap_in_mib_s)):
            pages = r.get(key, 0.0) - (prev or r).get(key, 0.0)
            out.append(round(max(0.0, pages) * PAGE_KIB / 1024 / dt, 3) if dt > 0 else 0.0)
        tl.mem_free_mib.append(round(r.get("MemFree", 0.0) / 1024, 1))
        swap_free = r.get("SwapFree", 0.0) / 1024
        tl.swap_used_mib.append(round(tl.swap_total_mib - swap_free, 1) if tl.swap_total_mib else 0.0)
        tl.oom_kill.append(int(r.get("oom_kill", 0)))
        prev = r
    return tl


MAX_SAMPLES_BYTES = 64 << 20  # a day of samples at 1 Hz is ~10 MiB


def read(run_dir: Path, rel: Path | str) -> str:
    """A samples file of the run directory as text: "" if it is not a regular file inside it within the cap."""
    try:
        return read_inside(run_dir, rel, MAX_SAMPLES_BYTES).decode(errors="replace")
    except ValueError:
        return ""


def load(run_dir: Path, rel: Path | str, swap_total_kib: int | None = None) -> Timeline:
    """A load directory's ``samples.csv``, named relative to the run directory (empty if there is none)."""
    return parse(read(run_dir, rel), swap_total_kib)


@dataclass
class NasTimeline:
    """The NAS's servers over the test phase: NFS and NBD MiB/s read and written, CPU busy (cores)."""

    t_s: list[float] = field(default_factory=list)  # seconds after the first sample
    epoch_s: list[float] = field(default_factory=list)
    nfs_read_mib_s: list[float] = field(default_factory=list)
    nfs_write_mib_s: list[float] = field(default_factory=list)
    nbd_read_mib_s: list[float] = field(default_factory=list)
    nbd_write_mib_s: list[float] = field(default_factory=list)
    cpu_busy_cores: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t_s)


USER_HZ = 100  # /proc/stat's unit on Linux


def parse_nas(text: str) -> NasTimeline:
    """The NAS sampler's CSV (``sampler.py --nas``); rows cut short or not numeric are dropped."""
    rows = _rows(text)
    tl = NasTimeline()
    if not rows or "epoch_s" not in rows[0]:
        return tl
    prev = rows[0]
    for r in rows:
        dt = r["epoch_s"] - prev["epoch_s"]
        tl.t_s.append(round(r["epoch_s"] - rows[0]["epoch_s"], 3))
        tl.epoch_s.append(r["epoch_s"])
        for key, out in (("nfsd_read_bytes", tl.nfs_read_mib_s), ("nfsd_write_bytes", tl.nfs_write_mib_s),
                         ("nbd_read_bytes", tl.nbd_read_mib_s), ("nbd_write_bytes", tl.nbd_write_mib_s)):  # fmt: skip
            delta = max(0.0, r.get(key, 0.0) - prev.get(key, 0.0))
            out.append(round(delta / (1 << 20) / dt, 3) if dt > 0 else 0.0)
        busy = max(0.0, r.get("cpu_busy", 0.0) - prev.get("cpu_busy", 0.0))
        tl.cpu_busy_cores.append(round(busy / USER_HZ / dt, 3) if dt > 0 else 0.0)
        prev = r
    return tl
