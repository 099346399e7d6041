"""`candela-server`: serving never migrates, `migrate` does, several workers, Celery."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from django.db import connection
from psycopg import sql
from test_cli_support import BIN, free_port, run_cli, running, server_env, spawn, stop

from candela.periodic import PERIODIC_TASKS

pytestmark = pytest.mark.django_db


def _admin_connection() -> psycopg.Connection:
    conf = connection.settings_dict
    return psycopg.connect(
        host=conf["HOST"] or "127.0.0.1",
        port=conf["PORT"] or 5432,
        user=conf["USER"],
        password=conf["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A brand-new PostgreSQL database with no tables, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_fresh"
    with _admin_connection() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conf = connection.settings_dict
    yield f"postgres://{conf['USER']}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{name}"
    with _admin_connection() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_serving_never_migrates_and_migrate_does(empty_database, tmp_path):
    env = server_env(tmp_path, DATABASE_URL=empty_database)
    with running(
        "candela-server", env=env, port=free_port(), log_path=tmp_path / "a.log"
    ) as server:
        assert "migrations are not applied; run `candela-server migrate`" in server.output()
        # The database answers, it just has no schema yet.
        assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
    assert _tables(empty_database) == set()

    done = run_cli("candela-server", "migrate", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    tables = _tables(empty_database)
    assert {"audit_auditevent", "tenants_tenant", "governance_apikey"} <= tables
    with psycopg.connect(empty_database) as conn:
        prices = conn.execute("SELECT count(*) FROM governance_price").fetchone()[0]
    assert prices > 0  # the shipped price list comes with the schema

    with running(
        "candela-server", env=env, port=free_port(), log_path=tmp_path / "b.log"
    ) as server:
        assert "warning" not in server.output()


def test_several_workers_serve_behind_one_port(tmp_path):
    with running(
        "candela-server",
        "--workers",
        "2",
        env=server_env(tmp_path),
        port=free_port(),
        log_path=tmp_path / "server.log",
    ) as server:
        for _ in range(4):
            answer = httpx.get(f"{server.base_url}/healthz", timeout=5)
            assert answer.json() == {"database": "ok", "counters": "ok"}
        deadline = time.monotonic() + 20
        while server.output().count("Started server process") < 2:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)


def test_worker_joins_the_broker(tmp_path):
    from candela.celery import app

    log_path = tmp_path / "worker.log"
    worker = spawn(
        [
            str(BIN / "candela-server"),
            "worker",
            "--pool",
            "solo",
            "--hostname",
            "cli-test@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        env=server_env(tmp_path),
        log_path=log_path,
    )
    try:
        deadline = time.monotonic() + 30
        replies: list = []
        while not replies:
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            # A broadcast over the broker named by REDIS_URL; only a live worker answers.
            replies = app.control.ping(timeout=0.5)
        assert any(name.startswith("cli-test@") for reply in replies for name in reply)
    finally:
        stop(worker)


def test_beat_runs_the_periodic_schedule_with_its_state_in_candela_home(tmp_path):
    home = tmp_path / "home"
    log_path = tmp_path / "beat.log"
    beat = spawn(
        [str(BIN / "candela-server"), "beat", "--loglevel", "DEBUG"],
        env=server_env(home),
        log_path=log_path,
    )

    def scheduled() -> bool:
        # At DEBUG, beat logs its schedule: each job of candela.periodic must be in it.
        log = log_path.read_text()
        return "beat: Starting" in log and all(path in log for _, path in PERIODIC_TASKS)

    try:
        deadline = time.monotonic() + 30
        while not (scheduled() and list(home.glob("celerybeat-schedule*"))):
            assert beat.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
    finally:
        stop(beat)
