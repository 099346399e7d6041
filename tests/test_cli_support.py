"""Helpers shared by the CLI tests (this module holds no tests of its own).

The commands run as real subprocesses through the installed console scripts;
servers are reached over real sockets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment a user's shell would have: no Candela, database or Redis settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CANDELA_", "DATABASE_URL", "REDIS_URL", "CELERY_", "DJANGO_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def database_url() -> str:
    """The pytest-django test database, as a DATABASE_URL for a subprocess."""
    conf = connection.settings_dict
    auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
    return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def server_env(home: Path, **overrides: str) -> dict[str, str]:
    """Production-style settings pointing at the test database and Redis db.

    `home` (CANDELA_HOME) keeps each command's spool and files out of the checkout.
    """
    settings_env = {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CANDELA_SECRET_KEY": "x" * 40,
        "CANDELA_HOME": str(home),
    }
    return clean_env(**{**settings_env, **overrides})


def run_cli(
    program: str, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / program), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn(command: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start a command in its own process group, output to `log_path`."""
    with log_path.open("w") as log:
        return subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM (a graceful stop), then SIGKILL for the whole group: worker
    processes of a multi-worker server must not outlive the test."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text()


@contextmanager
def running(
    program: str, *args: str, env: dict[str, str], port: int, log_path: Path, timeout: float = 45
) -> Iterator[Server]:
    """Start a server command, wait until /healthz answers (any status), stop it after."""
    process = spawn([str(BIN / program), *args, "--port", str(port)], env=env, log_path=log_path)
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"{program} exited with {process.returncode}:\n{server.output()}")
            try:
                httpx.get(f"{server.base_url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{program} did not answer in {timeout}s:\n{server.output()}")
                time.sleep(0.1)
        yield server
    finally:
        stop(process)
