"""A bad setting stops any command with one clear line on stderr and exit code 2."""

from __future__ import annotations

import socket

import pytest
from test_cli_support import clean_env, run_cli

# Nothing listens on port 1: a case that gets past the settings finds no server.
DB = "postgres://postgres@127.0.0.1:1/candela"
REDIS = "redis://127.0.0.1:1/0"
SECRET = "s" * 40

CASES = {
    "unknown database scheme": (
        ("candela", "bootstrap", "--json"),
        {"DATABASE_URL": "foo://x"},
        "DATABASE_URL is not a valid database URL",
    ),
    "database URL without a name": (
        ("candela", "bootstrap", "--json"),
        {"DATABASE_URL": "postgres://"},
        "check DATABASE_URL",
    ),
    "database URL with a bad port": (
        ("candela", "audit", "verify"),
        {"DATABASE_URL": "postgres://u@h:port/db"},
        "DATABASE_URL is not a valid database URL",
    ),
    "database that does not answer": (
        ("candela", "bootstrap", "--json"),
        {"DATABASE_URL": DB},
        "cannot use the database (DATABASE_URL)",
    ),
    "unparseable integer": (
        ("candela", "bootstrap", "--json"),
        {"CANDELA_MAX_BODY_BYTES": "lots"},
        "CANDELA_MAX_BODY_BYTES='lots' is not an integer",
    ),
    "unparseable boolean stops up before serving": (
        ("candela", "up"),
        {"CANDELA_DEBUG": "maybe"},
        "CANDELA_DEBUG='maybe' is not a boolean",
    ),
    "redis URL without a scheme": (
        ("candela", "audit", "verify"),
        {"REDIS_URL": "localhost:6379"},
        "REDIS_URL is not a valid Redis URL",
    ),
    "unreadable secret file": (
        ("candela", "audit", "verify"),
        {"CANDELA_SECRET_KEY_FILE": "/nonexistent/secret"},
        "CANDELA_SECRET_KEY_FILE=/nonexistent/secret cannot be read",
    ),
    "production without a secret key": (
        ("candela-server",),
        {"DATABASE_URL": DB, "REDIS_URL": REDIS},
        "CANDELA_SECRET_KEY is required in production",
    ),
    "production with a short secret key": (
        ("candela-server",),
        {"DATABASE_URL": DB, "REDIS_URL": REDIS, "CANDELA_SECRET_KEY": "too-short"},
        "at least 32 characters",
    ),
    "production migrate without a database": (
        ("candela-server", "migrate"),
        {"REDIS_URL": REDIS, "CANDELA_SECRET_KEY": SECRET},
        "DATABASE_URL is required in production",
    ),
    "production worker without redis": (
        ("candela-server", "worker"),
        {"DATABASE_URL": DB, "CANDELA_SECRET_KEY": SECRET},
        "REDIS_URL is required in production",
    ),
    "several workers without redis": (
        ("candela-server", "--workers", "4"),
        {"DATABASE_URL": DB, "CANDELA_SECRET_KEY": SECRET},
        "--workers 4 needs REDIS_URL",
    ),
}


@pytest.mark.parametrize(("command", "env", "expected"), CASES.values(), ids=CASES.keys())
def test_one_line_exit_2_no_traceback(tmp_path, command, env, expected):
    done = run_cli(*command, env=clean_env(CANDELA_HOME=str(tmp_path), **env))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{command[0]}: ")
    assert expected in lines[0]


def test_a_database_that_accepts_and_never_answers_is_given_up_on(tmp_path):
    # The TCP handshake completes (the kernel's backlog) but no PostgreSQL ever speaks.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"postgres://postgres@127.0.0.1:{silent.getsockname()[1]}/candela"
        env = clean_env(
            CANDELA_HOME=str(tmp_path), DATABASE_URL=url, CANDELA_DB_CONNECT_TIMEOUT="2"
        )
        done = run_cli("candela", "bootstrap", "--json", env=env, timeout=30)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "cannot use the database (DATABASE_URL)" in done.stderr
