"""Run the full test suite against real PostgreSQL and Redis.

Uses DATABASE_URL / REDIS_URL when set; otherwise the local servers on
127.0.0.1:5432 / 6379; otherwise starts throwaway instances from the installed
binaries; otherwise stops with a message naming what to install.
Extra arguments go to pytest.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find(binary: str) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"), reverse=True)
    return candidates[0] if candidates else None


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _throwaway_postgres() -> str:
    initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
    if not (initdb and pg_ctl):
        sys.exit(
            "candela tests: PostgreSQL is not reachable on 127.0.0.1:5432 and DATABASE_URL is "
            "not set. Install it (Debian: `apt-get install postgresql`) or point DATABASE_URL "
            "at a server."
        )
    data = Path(tempfile.mkdtemp(prefix="candela-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres_user([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        _as_postgres_user(
            [
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(data / "log"),
                "-w",
                "start",
                "-o",
                f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    atexit.register(
        lambda: subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            check=False,
        )
    )
    return f"postgres://postgres@127.0.0.1:{port}/candela"


def _throwaway_redis() -> str:
    server = shutil.which("redis-server")
    if not server:
        sys.exit(
            "candela tests: Redis is not reachable on 127.0.0.1:6379 and REDIS_URL is not set. "
            "Install it (Debian: `apt-get install redis-server`) or point REDIS_URL at a server."
        )
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    for _ in range(100):
        if _reachable("127.0.0.1", port):
            break
        time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


def service_environment() -> dict[str, str]:
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        if _reachable("127.0.0.1", 5432):
            env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/candela"
        else:
            env["DATABASE_URL"] = _throwaway_postgres()
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = (
            "redis://127.0.0.1:6379/0" if _reachable("127.0.0.1", 6379) else _throwaway_redis()
        )
    if not env["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("candela tests: DATABASE_URL must point at PostgreSQL (postgres://…)")
    return env


def main() -> int:
    env = service_environment()
    print(f"candela tests: PostgreSQL {env['DATABASE_URL']}  Redis {env['REDIS_URL']}", flush=True)
    command = [sys.executable, "-m", "pytest", *sys.argv[1:]]
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
