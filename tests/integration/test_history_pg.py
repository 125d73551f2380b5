"""The history on a real PostgreSQL (Debian's 15): a cluster of the test's own, started as the postgres user
on a Unix socket in a temporary directory (no TCP), with password authentication, stopped by its PID.

Two racks ingesting at once lose nothing; an Alembic upgrade from the first schema keeps every row; a wrong
password is exit 2 with a clear message and no password printed."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import BIN, swaplab

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from pgcluster import PG_BIN, Cluster

pytestmark = pytest.mark.integration

RUNS = Path(__file__).resolve().parents[1] / "unit" / "data" / "runs"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed: `make test-deps` installs it")
    c = Cluster()
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _env(c: Cluster, password: str | None = None) -> dict[str, str]:
    return {"SWAPLAB_HISTORY_PASSWORD": password or c.password}


def test_two_racks_ingesting_at_once_lose_nothing(cluster: Cluster, tmp_path: Path) -> None:
    runs = [str(RUNS / r) for r in ("kernel-6.1-a", "kernel-6.1-b", "kernel-5.10")]
    exe = str(BIN / "swaplab")
    env = dict(os.environ, **_env(cluster))
    procs = [subprocess.Popen([exe, "history", "ingest", *runs, "--history", cluster.url(), "--lab", f"rack{i}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in (1, 2)]  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
        assert cluster.password not in out + err
    for lab in ("rack1", "rack2"):
        nights = f"SELECT count(*) FROM nights WHERE lab = '{lab}'"  # noqa: S608 - the test's own constant
        assert cluster.psql(nights, "history") == "3"
        joined = f"SELECT count(*) FROM cases c JOIN nights n ON n.id = c.night_id WHERE n.lab = '{lab}'"  # noqa: S608
        cases = cluster.psql(joined, "history")  # fmt: skip
        assert int(cases) == 3 * 19
    verdict = swaplab("history", "verdict", "--history", cluster.url(), "--lab", "rack2", env=_env(cluster))
    assert verdict.returncode == 1 and "last good 6.1.0-57-amd64, first bad 5.10.0-46-amd64" in verdict.stdout


def test_an_alembic_upgrade_from_the_first_schema_keeps_every_row(cluster: Cluster) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from swaplab.history import store

    os.environ[store.PASSWORD_ENV] = cluster.password
    try:
        t = store.target(cluster.url())
        engine = create_engine(t.url)
        cfg = Config()
        cfg.set_main_option("script_location", str(store.MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            conn.execute(
                text("INSERT INTO kernels (id, package_sha256, release) VALUES (1, :s, '6.1')"), {"s": "a" * 64}
            )
            conn.execute(text("INSERT INTO nights VALUES (1, 'k', 'virtual', 1, 1, NULL, '2026-12-01T00:00:00Z', 0)"))
            conn.execute(text("INSERT INTO series VALUES (1, 'virtual', 'virtual', 'b1', 'blades', 'case', 'c::t')"))
            conn.execute(text("INSERT INTO cases VALUES (1, 1, 'failure', 'it failed')"))
        engine.dispose()
        with store.History(t) as h:
            assert h.revision() == "0002"
            nights = h.nights("virtual")
            assert h.series("virtual", [n.id for n in nights]).cases == {(1, 1): ("failure", None, "it failed")}
    finally:
        os.environ.pop(store.PASSWORD_ENV, None)


def test_a_wrong_password_is_exit_2_with_a_clear_message_and_no_password(cluster: Cluster) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    r = swaplab("history", "verdict", "--history", cluster.url(), env=_env(cluster, wrong))
    assert r.returncode == 2
    assert "password authentication failed" in r.stderr and "SWAPLAB_HISTORY_PASSWORD" in r.stderr
    assert wrong not in r.stdout + r.stderr and cluster.password not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
