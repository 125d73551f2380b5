"""A run directory's layout: the one place that names its files (pure: names only, no I/O).

``swaplab run`` writes them, the suites add theirs, and ``swaplab report`` and ``compare`` read them
back from the directory alone.
"""

from __future__ import annotations

import re
from pathlib import Path

# A host name as the inventory takes it (a DNS label): also a blade's directory in a run, so a name read
# back from a run directory must be one.
HOST_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.I | re.ASCII)
# The reports' run-level pseudo-blade (cases of the run as a whole): no blade may be named so.
RESERVED_NAMES = frozenset({"run", "nas"})

RESULTS = "results.json"
JUNIT = "junit.xml"
REPORT = "report.html"
CONTEXT = "context.json"  # the suites' settings (fleet.settings.Settings)
JOURNAL = "journal.jsonl"  # every case as it finishes (report.journal)
PROGRESS_LOG = "progress.log"  # the suites' progress lines, followed by `swaplab run`
NAS_SAMPLES = Path("nas") / "samples.csv"  # the NAS's server counters over the test phase
NAS_PROBE = "nas-probe.json"  # the one NAS liveness prober's last word, read by every worker (fleet.nas_probe)
LOAD_SAMPLES = "samples.csv"  # a load's timeline, in its load directory


def load_dir(run_dir: Path, blade: str, load: str) -> Path:
    """Where a load's files (its console slice, dmesg, results, timeline) are kept."""
    return run_dir / blade / "loads" / load


# The run's stages, in order (``Run._stage`` times each one), and the timings results.json and the report
# show, in that order ("blade_boot": the power-cycles and waits for ssh inside provision, from the boot
# role's marked tasks; "loads": the loads' own time inside tests; "total": the whole run).
STAGES = ("lab_build", "lab_up", "provision", "tests", "lab_down")
TIMINGS = ("total", "lab_up", "provision", "blade_boot", "tests", "loads")
