#!/usr/bin/env python3
"""Split capture.sh's serial console into the golden logs, one per format.

Usage: split.py CONSOLE_RAW OUTDIR NAME
Writes NAME.console.log (raw console, dump sections removed), NAME.dmesg-raw.log,
NAME.kmsg.log, and via util-linux `dmesg -F`: NAME.dmesg.log, NAME.dmesg-T.log,
NAME.dmesg-x.log; and NAME.journal.log (the kernel lines in journal short
format, with userspace look-alike lines interleaved as traps).
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

TRAPS = [
    "swaplab-test[812]: Out of memory: Killed process 1 (init) total-vm:1kB, anon-rss:1kB",
    "logger[813]: Kernel panic - not syncing: printed by a user, not the kernel",
    "myapp[814]: INFO: task myapp:814 blocked for more than 120 seconds.",
    "myapp[814]: WARNING: CPU: 0 PID: 814 at app.c:1 main+0x1/0x2",
]


def main() -> None:
    raw, outdir, name = Path(sys.argv[1]).read_bytes(), Path(sys.argv[2]), sys.argv[3]
    text = raw.decode("utf-8", "replace")
    sections: dict[str, list[str]] = {}
    console: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        plain = line.rstrip("\r")
        if m := re.match(r"=== dump: (\S+) ===$", plain):
            current = m.group(1)
            sections[current] = []
            continue
        if plain == "=== end ===":
            current = None
            continue
        (sections[current] if current else console).append(line)
    (outdir / f"{name}.console.log").write_text("\n".join(console), "utf-8")
    dmesg_raw = [line.rstrip("\r") for line in sections["dmesg-raw"] if line.strip()]
    (outdir / f"{name}.dmesg-raw.log").write_text("\n".join(dmesg_raw) + "\n", "utf-8")
    kmsg = [line.rstrip("\r") for line in sections["kmsg"] if line.strip()]
    (outdir / f"{name}.kmsg.log").write_text("\n".join(kmsg) + "\n", "utf-8")
    with tempfile.NamedTemporaryFile("w", suffix=".raw") as f:
        f.write("\n".join(dmesg_raw) + "\n")
        f.flush()
        for suffix, flags in (("dmesg", []), ("dmesg-T", ["-T"]), ("dmesg-x", ["-x"])):
            out = subprocess.run(["dmesg", "-F", f.name, *flags], check=True, capture_output=True, text=True,
                                 env={"TZ": "UTC", "LC_ALL": "C"}).stdout
            (outdir / f"{name}.{suffix}.log").write_text(out, "utf-8")
    journal = []
    for i, line in enumerate(dmesg_raw):
        msg = re.sub(r"^<\d+>\[\s*\d+\.\d+\] ?", "", line)
        secs = 1764104400 % 86400 + i // 20
        stamp = f"Nov 25 {secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        journal.append(f"{stamp} blade1 kernel: {msg}")
        if i % 300 == 150:
            journal.append(f"{stamp} blade1 {TRAPS[(i // 300) % len(TRAPS)]}")
    (outdir / f"{name}.journal.log").write_text("-- Journal begins at Wed 2026-11-25 21:00:00 UTC. --\n" + "\n".join(journal) + "\n", "utf-8")


if __name__ == "__main__":
    main()
