"""/healthz on the real production server: 200 when the database and Redis answer, 503 when not."""

from __future__ import annotations

import httpx
import pytest
from test_cli_support import free_port, running, server_env

# The server runs `SELECT 1` against the test database, which the mark creates.
pytestmark = pytest.mark.django_db


def _health(tmp_path, **env):
    with running(
        "candela-server",
        env=server_env(tmp_path, **env),
        port=free_port(),
        log_path=tmp_path / "server.log",
    ) as server:
        return httpx.get(f"{server.base_url}/healthz", timeout=10)


def test_healthy(tmp_path):
    answer = _health(tmp_path)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"database": "ok", "counters": "ok"}


def test_redis_down_is_503(tmp_path):
    answer = _health(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert answer.status_code == 503
    assert answer.json() == {"database": "ok", "counters": "down"}


def test_database_down_is_503(tmp_path):
    answer = _health(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/candela")
    assert answer.status_code == 503
    assert answer.json() == {"database": "down", "counters": "ok"}
