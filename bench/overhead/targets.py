"""The systems under test: how each starts, and how each is called.

Every target is a process tree whose CPU is counted whole, plus one Endpoint
per mode. A target that cannot run here raises NotAvailable with the reason,
which the report prints in its row instead of figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from overhead.loadgen import Endpoint, check
from overhead.processes import NotAvailable, Service, free_port
from overhead.upstream import Upstream

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
LITELLM_BIN = BENCH / ".venvs" / "litellm" / "bin" / "litellm"
PORTKEY_DIR = BENCH / ".node" / "node_modules" / "@portkey-ai" / "gateway"
UPSTREAM_KEY = "sk-bench-upstream"
UVICORN_FLAGS = [
    "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--workers", "1",
    "--host", "127.0.0.1", "--log-level", "warning", "--no-server-header",
]  # fmt: skip


@dataclass
class Context:
    work_dir: Path
    upstream: Upstream
    database_url: str
    redis_url: str
    infra_pids: list[int] = field(default_factory=list)  # local Redis and PostgreSQL servers


def local_server_pids(database_url: str, redis_url: str) -> list[int]:
    """Root pids of the Redis and PostgreSQL servers, when they run on this machine.

    Their CPU during a run is reported apart (Candela's counters and ledger live
    there); it includes whatever else uses the same servers at the time.
    """
    pids = []
    try:
        pid = int(redis.Redis.from_url(redis_url).info("server")["process_id"])
        if "redis" in _comm(pid):
            pids.append(pid)
    except (redis.RedisError, KeyError, ValueError):
        pass
    parts = urlsplit(database_url)
    try:
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres"))) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0
        postmaster = int(_stat_ppid(backend))
        if "postgres" in _comm(postmaster):
            pids.append(postmaster)
    except (psycopg.Error, OSError, ValueError):
        pass
    return pids


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return ""


def _stat_ppid(pid: int) -> str:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()[1]


@dataclass
class Running:
    name: str
    pid: int  # root of the process tree whose CPU and memory are counted
    plain: Endpoint
    stream: Endpoint | None
    services: list[Service] = field(default_factory=list)
    version: str = ""

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def _ready(service: Service, port: int, endpoints: list[Endpoint], timeout: float) -> None:
    """Wait for the port, then for the first real answers (policy loads, JITs warm)."""
    service.wait_for_port(port, timeout)
    deadline = time.monotonic() + timeout
    for stream, endpoint in zip((False, True), endpoints, strict=False):
        while True:
            try:
                check(endpoint, stream=stream)
                break
            except NotAvailable as exc:
                if time.monotonic() > deadline or service.process.poll() is not None:
                    service.stop()
                    raise NotAvailable(f"{exc}\n{service.log_tail()}") from None
                time.sleep(0.3)


# --- direct: the upstream itself --------------------------------------------------


def start_direct(ctx: Context) -> Running:
    up = ctx.upstream
    plain = Endpoint(url=up.chat_url(stream=False), model="bench-model")
    stream = Endpoint(url=up.chat_url(stream=True), model="bench-model")
    check(plain, stream=False)
    check(stream, stream=True)
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return Running("direct", up.service.pid, plain, stream, version=version)


# --- Candela ----------------------------------------------------------------------


def _run_checked(command: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise NotAvailable(f"{what} failed:\n{(done.stdout + done.stderr)[-1500:]}")
    return done.stdout


def _fresh_database(database_url: str) -> None:
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise NotAvailable(f"cannot recreate database {name!r}: {exc}") from None


def start_candela(ctx: Context, *, embedded: bool) -> Running:
    name = "candela-embedded" if embedded else "candela"
    env = dict(os.environ)
    env.update(
        CANDELA_HOME=str(ctx.work_dir / f"{name}-home"),
        CANDELA_SECRET_KEY="bench-only-secret-key-0123456789abcdefghijkl",
        CANDELA_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="candela.settings",
    )
    if embedded:
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    else:
        _fresh_database(ctx.database_url)
        try:
            redis.Redis.from_url(ctx.redis_url).flushdb()
        except redis.RedisError as exc:
            raise NotAvailable(f"Redis at {ctx.redis_url} is not usable: {exc}") from None
        env.update(DATABASE_URL=ctx.database_url, REDIS_URL=ctx.redis_url)
    python = sys.executable
    _run_checked([python, "manage.py", "migrate", "--noinput", "-v0"], env, "migrate")
    seeded = _run_checked(
        [python, str(BENCH / "overhead" / "seed.py"), "--upstream", ctx.upstream.root],
        env,
        "seeding",
    )
    key = json.loads(seeded.strip().splitlines()[-1])["key"]
    port = free_port()
    service = Service(
        name,
        [python, "-m", "uvicorn", "candela.asgi:application", *UVICORN_FLAGS, "--port", str(port)],
        log_dir=ctx.work_dir,
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    plain = Endpoint(url=url, model="bench-model", key=key)
    stream = Endpoint(url=url, model="bench-model-stream", key=key)
    _ready(service, port, [plain, stream], timeout=60)
    mode = "SQLite, in-process counters" if embedded else "PostgreSQL + Redis"
    return Running(name, service.pid, plain, stream, [service], version=mode)


# --- LiteLLM proxy ----------------------------------------------------------------


def start_litellm(ctx: Context) -> Running:
    if not LITELLM_BIN.exists():
        raise NotAvailable("LiteLLM is not installed: bench/install_competitors.sh")
    config = ctx.work_dir / "litellm.yaml"
    models = []
    for model, stream in (("bench-model", False), ("bench-model-stream", True)):
        models.append(
            {
                "model_name": model,
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": ctx.upstream.base_url(stream=stream),
                    "api_key": UPSTREAM_KEY,
                },
            }
        )
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "model_list": models,
                "litellm_settings": {"turn_off_message_logging": True, "telemetry": False},
                "general_settings": {"master_key": "sk-bench-litellm", "disable_spend_logs": True},
            },
            indent=1,
        )
    )
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)  # no database: LiteLLM's proxy as a stateless router
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False")
    port = free_port()
    service = Service(
        "litellm",
        [str(LITELLM_BIN), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", "1"],
        log_dir=ctx.work_dir,
        env=env,
        cwd=ctx.work_dir,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    plain = Endpoint(url=url, model="bench-model", key="sk-bench-litellm")
    stream = Endpoint(url=url, model="bench-model-stream", key="sk-bench-litellm")
    _ready(service, port, [plain, stream], timeout=120)
    version = subprocess.run(
        [str(LITELLM_BIN.parent / "python"), "-c",
         "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return Running("litellm", service.pid, plain, stream, [service], version=f"litellm {version}")


# --- Portkey gateway --------------------------------------------------------------


def start_portkey(ctx: Context) -> Running:
    server = PORTKEY_DIR / "build" / "start-server.js"
    if not server.exists():
        raise NotAvailable("Portkey's gateway is not installed: bench/install_competitors.sh")
    port = free_port()
    env = {**os.environ, "NODE_ENV": "production"}
    service = Service(
        "portkey",
        ["node", str(server), f"--port={port}", "--headless"],
        log_dir=ctx.work_dir,
        env=env,
        cwd=ctx.work_dir,
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"

    def endpoint(stream: bool) -> Endpoint:
        headers = (
            ("x-portkey-provider", "openai"),
            ("x-portkey-custom-host", ctx.upstream.base_url(stream=stream)),
        )
        return Endpoint(url=url, model="bench-model", key=UPSTREAM_KEY, headers=headers)

    plain, stream = endpoint(False), endpoint(True)
    _ready(service, port, [plain, stream], timeout=60)
    package = json.loads((PORTKEY_DIR / "package.json").read_text())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    version = f"@portkey-ai/gateway {package['version']}, node {node}"
    return Running("portkey", service.pid, plain, stream, [service], version=version)


# --- alternatives: bare raw-ASGI proxies ------------------------------------------

ALTERNATIVE_CLIENTS = ("aiohttp", "httpx", "httpcore")


def start_alternative(ctx: Context, *, client: str, with_redis: bool) -> Running:
    name = f"bare+{client}" + ("+redis" if with_redis else "")
    env = {
        **os.environ,
        "BENCH_UPSTREAM": ctx.upstream.chat_url(stream=False),
        "BENCH_REDIS_URL": ctx.redis_url if with_redis else "",
    }
    port = free_port()
    service = Service(
        name,
        [sys.executable, "-m", "uvicorn", f"proxy_{client}:app", "--app-dir",
         str(BENCH / "alternatives"), *UVICORN_FLAGS, "--port", str(port)],
        log_dir=ctx.work_dir,
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    plain = Endpoint(url=f"http://127.0.0.1:{port}/v1/chat/completions", model="bench-model")
    _ready(service, port, [plain], timeout=30)
    return Running(name, service.pid, plain, None, [service])


Launcher = Callable[[Context], Running]

MAIN_TARGETS: dict[str, Launcher] = {
    "direct": start_direct,
    "candela": lambda ctx: start_candela(ctx, embedded=False),
    "candela-embedded": lambda ctx: start_candela(ctx, embedded=True),
    "portkey": start_portkey,
    "litellm": start_litellm,
}


def alternative_launchers() -> dict[str, Launcher]:
    launchers: dict[str, Launcher] = {}
    for client in ALTERNATIVE_CLIENTS:
        for with_redis in (False, True):
            name = f"bare+{client}" + ("+redis" if with_redis else "")
            launchers[name] = lambda ctx, c=client, r=with_redis: start_alternative(
                ctx, client=c, with_redis=r
            )
    return launchers
