#!/usr/bin/env python3
"""Benchmark: virtual lab bring-up, cold or warm, on this machine.

Measures `swaplab lab build` (as it finds the cache), `lab up` (NAS QEMU start to ssh),
`provision` (NAS, kernel, PXE boot of every blade, both swaps), a second `provision`
(must report changed=0), host memory of the lab's QEMU processes, and `lab down`.
Run it outside any other lab (it uses the same run directory). It needs network for a
cold build only; run the rest in a loopback-only namespace if you like:

    unshare --net -- sh -c 'ip link set lo up && .venv/bin/python bench/bench_lab.py --blades 2'
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWAPLAB = str(Path(sys.executable).parent / "swaplab")
RUN = ROOT / ".cache" / "lab" / "run"


def timed(*args: str) -> tuple[float, str]:
    t0 = time.monotonic()
    r = subprocess.run([SWAPLAB, *args], capture_output=True, text=True, check=False)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"swaplab {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return dt, r.stdout


def rss_mib() -> dict[str, int]:
    out = {}
    for pidfile in RUN.glob("*.pid"):
        try:
            status = Path(f"/proc/{pidfile.read_text().strip()}/status").read_text()
        except OSError:
            continue
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        if m:
            out[pidfile.stem] = int(m.group(1)) // 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blades", type=int, default=1)
    ap.add_argument("--blade-memory", type=int, default=192)
    args = ap.parse_args()
    build, _ = timed("lab", "build")
    up, up_out = timed("lab", "up", "--blades", str(args.blades), "--blade-memory", str(args.blade_memory))
    nas_boot = re.search(r"ssh answered (\d+) s", up_out)
    try:
        prov, prov_out = timed("provision")
        boot = re.findall(r"\[\s*([\d.]+)s\] Boot the blades: (Power-cycle|Running kernel)", prov_out)
        marks = {name: float(t) for t, name in boot}
        reprov, reprov_out = timed("provision")
        changed = re.search(r"changed=(\d+)", reprov_out)
        mem = rss_mib()
    finally:
        down, _ = timed("lab", "down")
    blade_boot = marks.get("Running kernel", 0) - marks.get("Power-cycle", 0)
    print(f"blades={args.blades} blade_memory={args.blade_memory} MiB")
    print(f"lab build (as cached): {build:.1f} s")
    print(f"lab up: {up:.1f} s (NAS QEMU start to ssh: {nas_boot.group(1) if nas_boot else '?'} s)")
    print(f"provision: {prov:.1f} s (blade power-cycle to ssh on the kernel under test: {blade_boot:.0f} s)")
    print(f"lab up + provision: {up + prov:.1f} s")
    print(f"second provision: {reprov:.1f} s, changed={changed.group(1) if changed else '?'}")
    print(f"host RSS (MiB): {mem}, total {sum(mem.values())}")
    print(f"lab down: {down:.1f} s")


if __name__ == "__main__":
    main()
