#!/usr/bin/env python3
"""The history at a rack's scale: 100 blades x 25 cases x 365 nights ingested, then a verdict on the last.

Each night is what one rack's run gives the store (``swaplab.history.facts.NightFacts``): per blade 25
cases (about 1 in 200 failing), the ratio, the two hog times and eight fio figures with their samples,
and a few finding kinds. Measured: the whole ingest, the slowest night, the verdict on the last night
(read from the store, judged: the real ``swaplab history verdict`` path), and the file's size.

    bench/bench_history.py                         # SQLite, in a temporary directory
    bench/bench_history.py --url postgresql://swaplab@/history?host=/tmp/pg   # SWAPLAB_HISTORY_PASSWORD set

Run with nothing else running; figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from swaplab.history import commands
from swaplab.history.facts import BladeFacts, CaseFacts, MetricFacts, NightFacts
from swaplab.history.store import History, target

SUITES = {"config": 6, "fio": 4, "hog": 12, "verdict": 2, "provision": 1}  # 25 cases a blade


def night(n: int, blades: int, rng: random.Random) -> NightFacts:
    out = []
    for b in range(1, blades + 1):
        name = f"r1-b{b:03d}"
        bf = BladeFacts(name, "rack1", "blades")
        for suite, count in SUITES.items():
            for i in range(count):
                bad = rng.random() < 0.005
                bf.cases.append(CaseFacts(suite, f"test_{suite}_{i}", "failure" if bad else "pass",
                                          "a failure" if bad else ""))  # fmt: skip
        ratio = [1.2 * rng.gauss(1, 0.09) for _ in range(4)]
        bf.metrics.append(MetricFacts("ratio@2x/192MiB", sum(ratio) / 4, tuple(ratio), 1.1, 1.3))
        for store in ("nfs", "nbd"):
            times = [30 * rng.gauss(1, 0.05) for _ in range(4)]
            bf.metrics.append(MetricFacts(f"hog.{store}.s@2x/192MiB", sum(times) / 4, tuple(times)))
            for job in ("seq-read-64k", "seq-write-64k"):
                bf.metrics.append(MetricFacts(f"fio.{store}.{job}.bw@32MiB/5s", 20 * rng.gauss(1, 0.1) + 1, (20.0,)))
                bf.metrics.append(MetricFacts(f"fio.{store}.{job}.p99@32MiB/5s", 8 * rng.gauss(1, 0.1) + 1, (8.0,)))
        bf.findings = Counter({("swap_activated", "info"): 2, ("nfs_not_responding", "warn"): rng.randint(0, 1)})
        bf.findings = +bf.findings
        out.append(bf)
    return NightFacts(release=f"6.1.0-{n}", package_sha256=f"{n:064x}", config_sha256=None,
                      finished=f"night-{n:05d}", exit_code=0, lab="rack1", blades=out)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blades", type=int, default=100)
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--url", help="a postgresql:// URL (default: a SQLite file in a temporary directory)")
    ap.add_argument(
        "--postgres", action="store_true", help="start a PostgreSQL cluster of its own (bench/pgcluster.py)"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rng = random.Random(1)  # noqa: S311 - synthetic figures, not a secret
    with tempfile.TemporaryDirectory() as tmp:
        cluster = None
        if args.postgres:
            from pgcluster import Cluster

            cluster = Cluster()
            cluster.start()
            os.environ["SWAPLAB_HISTORY_PASSWORD"] = cluster.password
            args.url = cluster.url()
        where = args.url or os.path.join(tmp, "history.db")
        with History(target(where)) as h:
            slowest, t0 = 0.0, time.monotonic()
            for n in range(1, args.nights + 1):
                facts = night(n, args.blades, rng)
                t = time.monotonic()
                h.ingest(facts)
                slowest = max(slowest, time.monotonic() - t)
                if n % 50 == 0:
                    print(f"  {n} nights ingested, {time.monotonic() - t0:.1f} s", flush=True)
            ingest_s = time.monotonic() - t0
            t = time.monotonic()
            v = commands.verdict_for(h, "rack1", [])
            verdict_s = time.monotonic() - t
        size = sum(f.stat().st_size for f in Path(tmp).iterdir()) if not args.url else None
        if cluster is not None:
            size = int(cluster.psql("SELECT pg_database_size('history')"))
            cluster.stop()
    fig = {"backend": "postgresql" if args.url else "sqlite", "blades": args.blades, "nights": args.nights,
           "ingest_s": round(ingest_s, 1), "slowest_night_s": round(slowest, 2), "verdict_s": round(verdict_s, 2),
           "verdict_exit": v.exit_code, "file_mb": round(size / 1e6, 1) if size else None}  # fmt: skip
    print(json.dumps(fig))
    if args.json:
        args.json.write_text(json.dumps(fig, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
