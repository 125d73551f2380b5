"""fio on the blade: the job line (pure) and its JSON output parsed (pure)."""

from __future__ import annotations

import json
import shlex
from typing import Any

# Sequential 64k and random 4k, write then read, one after another (stonewall).
JOBS: tuple[tuple[str, str, str], ...] = (
    ("seq-write-64k", "write", "64k"),
    ("seq-read-64k", "read", "64k"),
    ("rand-write-4k", "randwrite", "4k"),
    ("rand-read-4k", "randread", "4k"),
)


def command(
    target: str, size_mib: int, runtime_s: int, output: str, ioengine: str = "psync", loop: bool = False
) -> str:
    """The fio command line for ``target`` (a file or a block device), direct I/O, JSON out.

    ``loop`` repeats the job set for the whole runtime (the run beside the memory hog).

    Jobs are threads (``--thread``), not forked processes: fio gives a job 5 s to start, and under
    swap pressure on a slow blade a forked job can take longer. When one does, fio "terminates"
    the job's pid, still 0, with kill(0, SIGTERM): its whole process group, the hog beside it
    included (seen in a run: "fio: job startup hung? exiting", then the hog Terminated).
    """
    args = [
        "fio", "--output-format=json", f"--output={output}", f"--filename={target}", "--direct=1",
        f"--ioengine={ioengine}", f"--size={size_mib}M", f"--runtime={runtime_s}", "--thread",
    ]  # fmt: skip
    if loop:
        args.append("--time_based")
    for name, rw, bs in JOBS:
        args += [f"--name={name}", f"--rw={rw}", f"--bs={bs}", "--stonewall"]
    return " ".join(shlex.quote(a) for a in args)


def layout_command(target: str, size_mib: int) -> str:
    """Lay out fio's file ahead of a run (fio writes it through the page cache, buffered).

    Beside the hog this must happen before the pressure starts: the test is direct I/O next to
    swap, and a buffered layout under pressure is another test (a run's layout of 32 MiB on NFS
    under the hog sat 66 s in the page allocator: a soft lockup, and a hung kblockd worker).
    """
    args = ["fio", "--name=layout", f"--filename={target}", f"--size={size_mib}M", "--rw=write", "--create_only=1"]
    return " ".join(shlex.quote(a) for a in args) + " > /dev/null"


LAYOUT_FAILED = 3  # beside_hog's exit code when fio could not lay out its file (before the hog started)


def beside_hog(target: str, size_mib: int, budget_s: int, hog: str) -> str:
    """The job that runs fio on ``target`` for the hog's whole run, beside it: the file laid out first (exit
    ``LAYOUT_FAILED`` if it cannot be), fio in a session of its own (nothing it signals can reach the hog),
    the hog in the job's own shell (``hog``: a command that does not exec), fio stopped when the hog ends;
    the job's exit code is the hog's."""
    return (
        f"{layout_command(target, size_mib)} || exit {LAYOUT_FAILED}; "
        f"setsid {command(target, size_mib, budget_s, 'fio.json', loop=True)} & fio=$!; "
        "echo $fio >> detached.pids; "
        f"{hog}; rc=$?; kill -INT $fio; wait $fio; rm -f {shlex.quote(target)}; exit $rc"
    )


def parse(text: str) -> dict[str, dict[str, Any]]:
    """fio's JSON output -> {job: {rw, bw_mib_s, iops, p99_ms, runtime_s}}; raises ValueError."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON in fio's output")
    data = json.loads(text[start:])
    out: dict[str, dict[str, Any]] = {}
    for job in data.get("jobs", []):
        for direction in ("read", "write"):
            d = job.get(direction, {})
            if not d.get("io_bytes"):
                continue
            pct = d.get("clat_ns", {}).get("percentile", {})
            p99 = pct.get("99.000000")
            out[job["jobname"]] = {
                "rw": direction,
                "bw_mib_s": d["bw_bytes"] / (1 << 20),
                "iops": d["iops"],
                "p99_ms": p99 / 1e6 if p99 is not None else None,
                "runtime_s": d["runtime"] / 1000,
                "io_mib": d["io_bytes"] / (1 << 20),
            }
    if not out:
        raise ValueError("fio reported no I/O")
    return out
