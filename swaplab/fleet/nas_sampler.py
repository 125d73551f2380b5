"""The NAS's side of a run's timeline: its NFS and NBD server counters once a second while the suites run.

``NasSampler`` ships ``agent/sampler.py`` to the NAS, starts it detached (``--nas``) for the test
phase, and afterwards stops it (by the PID it recorded) and fetches its CSV into the run directory
(``nas/samples.csv``). Only on a NAS swaplab manages: on a storage team's NAS swaplab writes nothing.
A sampler that cannot start or be fetched costs the report its NAS timeline, never a case: it is
logged, and the run goes on.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from swaplab.agent import SAMPLER
from swaplab.fleet.loads import AGENT_DIR
from swaplab.fleet.remote import Remote, RemoteError
from swaplab.rundir import NAS_SAMPLES


class NasSampler:
    def __init__(self, remote: Remote, run_id: str, run_dir: Path, log: Callable[[str], None]) -> None:
        self.remote, self.run_dir, self.log = remote, run_dir, log
        self.dir = f"{AGENT_DIR}/nas-samples/{run_id}"
        self.started = False

    def start(self) -> None:
        q = shlex.quote
        try:
            r = self.remote.run(
                f"mkdir -p {q(self.dir)} && cat > {q(self.dir)}/sampler.py && cd {q(self.dir)} && "
                "{ setsid nohup python3 sampler.py --nas --out samples.csv < /dev/null > /dev/null 2>&1 & "
                "echo $! > pid; }",
                timeout=30, stdin=SAMPLER.read_bytes(),
            )  # fmt: skip
        except RemoteError as e:
            self.log(f"NAS timeline: the sampler could not start ({e}); the report will have none")
            return
        if r.rc != 0:
            self.log(f"NAS timeline: the sampler could not start (exit {r.rc}: {r.stderr.strip()[-200:]})")
            return
        self.started = True

    def stop(self) -> None:
        """Stop the sampler and fetch its samples (bounded; a failure is logged)."""
        if not self.started:
            return
        q = shlex.quote
        try:
            r = self.remote.run(
                f"cd {q(self.dir)} && {{ kill $(cat pid) 2>/dev/null; cat samples.csv; }}; rm -rf {q(self.dir)}",
                timeout=60,
            )
        except RemoteError as e:
            self.log(f"NAS timeline: could not fetch the samples ({e})")
            return
        out = self.run_dir / NAS_SAMPLES
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(r.stdout)
        self.started = False
