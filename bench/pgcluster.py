"""A PostgreSQL cluster of one's own, for the history's tests and benchmarks: Debian's PostgreSQL 15,
initialised as the postgres user in a directory given, listening on a Unix socket there only (no TCP),
password authentication (scram-sha-256), stopped by the postmaster's own PID."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Cluster:
    def __init__(self) -> None:
        # A directory of its own in /tmp (which every user may traverse), owned by postgres: not under a
        # root-only temporary directory, which the postgres user could not reach.
        self.base = Path(tempfile.mkdtemp(prefix="swaplab-pg-"))
        self.data = self.base / "data"
        self.socket = self.base / "socket"
        self.password = "pg-" + secrets.token_hex(12)
        self.user = pwd.getpwnam("postgres")

    def _as_postgres(self, *cmd: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError("PostgreSQL 15 is not installed: `make test-deps` installs it")
        self.socket.mkdir()
        pwfile = self.base / "pw"
        pwfile.write_text(self.password + "\n")
        for p in (self.base, self.socket, pwfile):
            os.chown(p, self.user.pw_uid, self.user.pw_gid)
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "swaplab", f"--pwfile={pwfile}",
                          "--auth=scram-sha-256", "-E", "UTF8")  # fmt: skip
        pwfile.unlink()
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l", str(self.base / "log"),
                          "-o", f"-k {self.socket} -c listen_addresses=''", "start")  # fmt: skip
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        self.psql("CREATE DATABASE history")

    def psql(self, sql: str, db: str = "postgres") -> str:
        env = dict(os.environ, PGPASSWORD=self.password)
        r = subprocess.run([str(PG_BIN / "psql"), "-h", str(self.socket), "-U", "swaplab", "-d", db, "-tAc", sql],
                           capture_output=True, text=True, env=env, timeout=60, check=True)  # fmt: skip
        return r.stdout.strip()

    def url(self) -> str:
        return f"postgresql://swaplab@/history?host={self.socket}"

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGINT)  # the postmaster we started, by its PID: a fast shutdown
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Path(f"/proc/{self.pid}").exists():
            time.sleep(0.2)
        shutil.rmtree(self.base, ignore_errors=True)
