#!/usr/bin/env python3
"""swaplab's sampler: the blade's swap and memory counters once a second, into a CSV (standard library only).

It runs on the blade beside a load (started by the load's job script, killed with it) and costs one
process that reads two /proc files a second: no exec per sample, so nothing is paged back in from
the NFS root for it while the blade swaps. Each row is flushed as it is written, so a blade that
hangs keeps every sample up to the hang (the controller fetches the file afterwards, or from the
NFS root).

Columns: ``uptime_s`` (the kernel's clock, the one the console's timestamps use), then the
/proc/vmstat counters ``pswpin pswpout pgscan pgsteal oom_kill pgscan_direct_throttle`` (pgscan
and pgsteal summed over kswapd, direct and khugepaged) and the /proc/meminfo fields ``MemFree
SwapFree Dirty Writeback`` (kB). With ``--heartbeat N`` it also writes ``swaplab: heartbeat SEQ`` to
the kernel log every N sample intervals: the console watch's sign of life. The heartbeat has a thread of
its own and the sampler's pages are locked in RAM as they are touched (``pin``): neither swap nor a
CSV write waiting on the NFS root stops it while the kernel lives.

``--nas``: the NAS's side of the same run, the servers' counters: ``epoch_s`` (wall clock: the NAS
and the blades have different uptimes), the NFS server's bytes read and written (the ``io`` line
of /proc/net/rpc/nfsd for kernel nfsd, /proc/PID/io of ganesha.nfsd), every nbd-server process's bytes
read and written (/proc/PID/io), and the CPU time the whole NAS spent busy (/proc/stat, jiffies: on
the host NAS, a container, that is the whole host's).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

VMSTAT = ("pswpin", "pswpout", "pgscan", "pgsteal", "oom_kill", "pgscan_direct_throttle")
MEMINFO = ("MemFree", "SwapFree", "Dirty", "Writeback")
COLUMNS = ("uptime_s", *VMSTAT, *MEMINFO)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def sample() -> list[str]:
    vm: dict[str, int] = {"pgscan": 0, "pgsteal": 0}
    for line in _read("/proc/vmstat").splitlines():
        key, _, value = line.partition(" ")
        if key.startswith("pgscan_") and key != "pgscan_direct_throttle":
            vm["pgscan"] += int(value)
        elif key.startswith("pgsteal_"):
            vm["pgsteal"] += int(value)
        elif key in VMSTAT:
            vm[key] = int(value)
    mem = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        if key in MEMINFO:
            mem[key] = int(rest.split()[0])
    uptime = _read("/proc/uptime").split()[0]
    return [uptime, *(str(vm.get(k, 0)) for k in VMSTAT), *(str(mem.get(k, 0)) for k in MEMINFO)]


NAS_COLUMNS = ("epoch_s", "nfsd_read_bytes", "nfsd_write_bytes", "nbd_read_bytes", "nbd_write_bytes", "cpu_busy")


def nas_sample() -> list[str]:
    nfsd_read = nfsd_write = 0
    try:
        for line in _read("/proc/net/rpc/nfsd").splitlines():
            if line.startswith("io "):
                nfsd_read, nfsd_write = (int(v) for v in line.split()[1:3])
    except OSError:
        pass  # no NFS server running
    nbd_read = nbd_write = 0
    for pid in (d for d in os.listdir("/proc") if d.isdigit()):
        try:
            comm = _read(f"/proc/{pid}/comm").strip()
            if comm not in ("nbd-server", "ganesha.nfsd"):
                continue
            io = dict(line.split(": ") for line in _read(f"/proc/{pid}/io").splitlines())
        except (OSError, ValueError):
            continue  # gone meanwhile
        if comm == "nbd-server":
            nbd_read += int(io.get("read_bytes", 0))
            nbd_write += int(io.get("write_bytes", 0))
        else:  # nfs-ganesha, a process of its own: its disk bytes (kernel nfsd's come from /proc/net/rpc/nfsd)
            nfsd_read += int(io.get("read_bytes", 0))
            nfsd_write += int(io.get("write_bytes", 0))
    cpu = [int(v) for v in _read("/proc/stat").splitlines()[0].split()[1:]]
    busy = sum(cpu) - cpu[3] - (cpu[4] if len(cpu) > 4 else 0)  # all but idle and iowait
    return [f"{time.time():.3f}", str(nfsd_read), str(nfsd_write), str(nbd_read), str(nbd_write), str(busy)]


def heartbeat(seq: int) -> None:
    """A sign of life on the console (the one witness left when the NAS, the root and ssh are stalled):
    a notice-level kernel log line, which swaplab's console watch counts."""
    try:
        with open("/dev/kmsg", "w") as kmsg:
            kmsg.write(f"<5>swaplab: heartbeat {seq}\n")
    except OSError:
        pass  # not root, or no /dev/kmsg: no heartbeat, the console watch still sees other output


def beat(every_s: float, stop: threading.Event) -> None:
    """The heartbeat's own thread: it touches only /dev/kmsg, so a sample or a CSV write that waits on the
    NFS root (the GIL is released while it waits) does not hold it up."""
    seq = 0
    while not stop.is_set():
        heartbeat(seq)
        seq += 1
        stop.wait(every_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="CSV file to append to")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    ap.add_argument("--max-samples", type=int, default=86400, help="stop after this many (default a day's)")
    ap.add_argument("--nas", action="store_true", help="sample the NAS's NFS and NBD servers instead")
    ap.add_argument(
        "--heartbeat",
        type=int,
        default=0,
        metavar="N",
        help="every N samples, write a heartbeat to the kernel log (/dev/kmsg, so the console carries it)",
    )
    ap.add_argument("--no-pin", action="store_true", help="leave the sampler's pages swappable (benchmarks)")
    args = ap.parse_args(argv)
    columns, take = (NAS_COLUMNS, nas_sample) if args.nas else (COLUMNS, sample)
    stop = threading.Event()
    if args.heartbeat:
        if not args.no_pin:
            try:  # shipped beside this file on the blade; the package's on the controller (tests)
                from swaplab.agent.pin import pin
            except ImportError:
                from pin import pin  # type: ignore[import-not-found,no-redef]
            if why := pin(future=True):
                print(f"sampler: not pinned in RAM ({why}): the heartbeat can stall under swap", file=sys.stderr)
        threading.Thread(target=beat, args=(args.heartbeat * args.interval, stop), daemon=True).start()
    try:
        with open(args.out, "a", buffering=1) as out:
            if out.tell() == 0:
                out.write(",".join(columns) + "\n")
            for _ in range(args.max_samples):
                out.write(",".join(take()) + "\n")  # line-buffered: written through at once
                time.sleep(args.interval)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
