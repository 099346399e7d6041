"""Running the gateway for real in tests: uvicorn subprocesses on free ports.

The gateways use the TEST database (rows must be committed, so gateway tests
use `gw_db`, a transactional database) and the test Redis. A `TcpProxy` can sit
between a gateway and PostgreSQL or Redis and be switched off to simulate an
outage for that gateway only.

Gateways are started once per module; each test creates its own tenants, users,
keys and routes through the services and calls `gateways.sync()` so every
process has loaded the policy version that includes them.

Test modules load this as a plugin (`pytest_plugins = ["tests.gateway_harness"]`)
and mark themselves `usefixtures("gw_db", "gateway_defaults")`. They also import
its helpers first, hence PYTEST_DONT_REWRITE (its asserts carry their messages).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
from django.conf import settings
from django.db import connection

from audit.models import AuditEvent
from gateway.estimate import chat_prompt_tokens, max_output_tokens
from governance.counters.base import build_counter_store, cost_nano, nano_to_usd
from governance.models import UsageRecord
from governance.policy_bus import POLICY_VERSION_KEY
from governance.services.keys import mint_key
from governance.services.providers import create_model_route, create_provider
from governance.services.users import create_user
from tests.fakes.provider import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
PRICE_IN = Decimal("1")  # USD per million tokens: one prompt token = 1000 nano-USD
PRICE_OUT = Decimal("2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_gateways(host: str | None = None, port: int | None = None) -> str:
    """The URL of pytest-django's test database (optionally through a proxy)."""
    conf = connection.settings_dict
    user = conf.get("USER") or "postgres"
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    host = host or conf.get("HOST") or "127.0.0.1"
    port = port or int(conf.get("PORT") or 5432)
    return f"postgres://{user}{password}@{host}:{port}/{conf['NAME']}"


# The former name, still imported by other test modules (never import it under this
# name into a test module: pytest would collect it as a test).
test_database_url = database_url_for_gateways


def database_proxy() -> TcpProxy:
    """A switchable proxy in front of the test database."""
    conf = connection.settings_dict
    return TcpProxy(conf.get("HOST") or "127.0.0.1", int(conf.get("PORT") or 5432))


def redis_host_port() -> tuple[str, int, int]:
    pool = redis_lib.ConnectionPool.from_url(settings.REDIS_URL)
    kwargs = pool.connection_kwargs
    return kwargs.get("host", "127.0.0.1"), int(kwargs.get("port", 6379)), int(kwargs.get("db", 0))


class TcpProxy:
    """A TCP forwarder that can be switched off (listener closed, connections cut)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    async def _up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def up(self) -> None:
        asyncio.run_coroutine_threadsafe(self._up(), self._loop).result(10)

    def down(self) -> None:
        asyncio.run_coroutine_threadsafe(self._down(), self._loop).result(10)

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass
class GatewayProcess:
    """One `uvicorn candela.asgi:application` subprocess."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        command = [
            sys.executable, "-m", "uvicorn", "candela.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--loop", "uvloop", "--http", "httptools", "--lifespan", "on",
            "--no-access-log", "--timeout-graceful-shutdown", "5",
        ]  # fmt: skip
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self

    def wait_ready(self, *, require_policy: bool = True, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(self.url + "/v1/models", timeout=1)
                if not require_policy or "x-candela-policy-version" in response.headers:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"gateway not ready after {timeout}s:\n{self.log()}")

    def policy_version(self) -> int:
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(self.url + "/v1/models", timeout=2)
            return int(response.headers.get("x-candela-policy-version", 0))
        return 0

    def stop(self) -> int | None:
        """SIGTERM (lifespan shutdown flushes the recorder) and wait."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


class Gateways(list[GatewayProcess]):
    """The gateways of a module, and waiting for them to load the current policy."""

    def sync(self, timeout: float = 15.0) -> None:
        """Announce a policy version no gateway can have seen, wait until all load it."""
        wanted = time.time_ns() // 1000
        client = redis_lib.Redis.from_url(settings.REDIS_URL)
        try:
            client.set(POLICY_VERSION_KEY, wanted)
        finally:
            client.close()
        deadline = time.monotonic() + timeout
        for gateway in self:
            while gateway.policy_version() < wanted:
                if time.monotonic() > deadline:
                    raise AssertionError(f"gateway did not load policy v{wanted}:\n{gateway.log()}")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return self[0].url


def gateway_env(tmp_dir: Path, **overrides: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "candela.settings",
        "DATABASE_URL": database_url_for_gateways(),
        "REDIS_URL": settings.REDIS_URL,
        "CANDELA_SECRET_KEY": settings.SECRET_KEY,
        "CANDELA_HOME": str(tmp_dir / "home"),
        "CANDELA_SPOOL_DIR": str(tmp_dir / "spool"),
        "CANDELA_LOG_LEVEL": "WARNING",
        # Faster than the 0.5 s default so tests wait less; test_gateway_auth checks the default.
        "CANDELA_POLICY_REFRESH_SECONDS": "0.2",
    }
    env.update({name: value for name, value in overrides.items() if value is not None})
    return {name: value for name, value in env.items() if overrides.get(name, "") is not None}


@contextlib.contextmanager
def running_gateways(
    tmp_dir: Path, count: int = 1, *, require_policy: bool = True, **overrides: str | None
) -> Iterator[Gateways]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    env = gateway_env(tmp_dir, **overrides)
    gateways = Gateways(
        GatewayProcess(env=env, log_path=tmp_dir / f"gateway-{i}.log").start() for i in range(count)
    )
    try:
        for gateway in gateways:
            gateway.wait_ready(require_policy=require_policy)
        yield gateways
    finally:
        for gateway in gateways:
            gateway.stop()


# --- fixtures ---------------------------------------------------------------


@pytest.fixture
def _restore_triggers(django_db_setup, django_db_blocker):
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")


def _quiet_trail(quiet_for: float = 0.4, timeout: float = 10.0) -> None:
    """Wait until no gateway is still writing: a recorder batch racing the flush's
    TRUNCATE (it reads, then inserts into, the audit table) would deadlock with it."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        if newest != last:
            last, since = newest, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        time.sleep(0.05)


@pytest.fixture
def gw_db(_restore_triggers, transactional_db):
    """A committed database the gateways can see. The audit table refuses TRUNCATE by
    trigger: the flush after the test runs with triggers off on this connection only."""
    yield
    _quiet_trail()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def gateway_defaults(request, settings):
    """Cheap password hashing (users are created per test) and a fake in its defaults."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if "fake" in request.fixturenames:
        provider = request.getfixturevalue("fake")
        provider.reset()
        provider.configure(
            reply_text=None, prompt_tokens=None, completion_tokens=None, latency_s=0.0,
            chunk_delay_s=0.0, stream_chunks=4, cut_after_frames=2,
        )  # fmt: skip


@dataclass
class Setup:
    """What a test builds through the services: a provider, its routes, keys."""

    operator: Any
    fake: FakeProvider
    provider: Any = None
    routes: dict[str, Any] = field(default_factory=dict)

    def route(self, name: str = "gpt-4o-mini", *, upstream_model: str = ""):
        """A route to the fake at $1 / $2 per million input / output tokens."""
        if self.provider is None:
            self.provider = create_provider(
                actor=self.operator, name="fake-openai", kind="openai",
                base_url=self.fake.url + "/v1", api_key="sk-upstream-secret",
            )  # fmt: skip
        self.routes[name] = create_model_route(
            actor=self.operator, name=name, provider=self.provider, upstream_model=upstream_model,
            input_usd_per_mtok=PRICE_IN, output_usd_per_mtok=PRICE_OUT,
        )  # fmt: skip
        return self.routes[name]

    def key(self, owner, **policy) -> tuple[Any, str]:
        return mint_key(actor=self.operator, owner=owner, name=policy.pop("name", "test"), **policy)


@pytest.fixture
def setup(redis_client, operator, fake) -> Setup:
    built = Setup(operator=operator, fake=fake)
    built.route()
    return built


# --- requests and records ---------------------------------------------------


def auth(raw_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw_key}"}


def chat_body(content: str = "hello there", model: str = "gpt-4o-mini", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def wait_for_records(request_ids: Iterable[str], timeout: float = 10.0) -> list[UsageRecord]:
    """The ledger rows of `request_ids`, once every one of them is written."""
    ids = list(request_ids)
    rows: list[UsageRecord] = []

    def complete() -> bool:
        rows[:] = UsageRecord.objects.filter(request_id__in=ids)
        return len(rows) >= len(ids)

    wait_until(complete, timeout=timeout, interval=0.05)
    return rows


def events_for(request_ids: Iterable[str]) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(request_id__in=list(request_ids), kind="llm_request"))


def make_user(operator, tenant, email: str, **budget) -> Any:
    return create_user(actor=operator, email=email, tenant=tenant, **budget)


def reservation_nano(body: dict) -> int:
    """What the gateway reserves for a chat body on `Setup.route` (the documented estimate)."""
    max_out = max_output_tokens(body, settings.CANDELA_DEFAULT_MAX_TOKENS)
    return cost_nano(chat_prompt_tokens(body), max_out, PRICE_IN, PRICE_OUT)


def spend(tenant_id: int, user_id: int, grant_ids: tuple[int, ...] = ()) -> Any:
    """The counter store's view (committed = charged + outstanding reservations)."""

    async def read():
        store = build_counter_store()
        try:
            return await store.spend(
                tenant_id=tenant_id, user_id=user_id, now=time.time(), grant_ids=grant_ids
            )
        finally:
            await store.aclose()

    return asyncio.run(read())


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until `predicate()` is truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --- PII and secrets --------------------------------------------------------

# PII samples (not secrets): found by gateway.pii, harmless to commit.
PII_SAMPLES = {
    "EMAIL": "jane.doe@example.com",
    "SSN": "536-22-1234",
    "PHONE": "(415) 555-0132",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "IP_ADDRESS": "10.20.30.40",
}
_B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _random_text(length: int, alphabet: str = _B62) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def fake_jwt(*, claims_padding: int = 0) -> str:
    """A JWT shape with random claims and signature; `claims_padding` makes it longer."""
    claims = {"sub": _random_text(8), "pad": "x" * claims_padding}
    return f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url(claims)}.{_random_text(43)}"


def fake_aws_secret() -> str:
    """A 40-character AWS-secret-shaped token (an AWS_SECRET_KEY only after a keyword)."""
    while True:
        value = _random_text(40, _B62 + "/+")
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            return value


def fake_private_key() -> str:
    label = "RSA PRIVATE" + " KEY"  # split so no committed line looks like key armour
    body = "\n".join(_random_text(64, _B62 + "+/") for _ in range(4))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def fake_secrets() -> dict[str, str]:
    """One fresh value per secret type, built at run time (none is ever committed)."""
    return {
        "API_KEY": "sk-" + _random_text(20) + "T3BlbkFJ" + _random_text(20),
        "AWS_ACCESS_KEY": "AKIA" + _random_text(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
        "JWT": fake_jwt(),
        "PRIVATE_KEY": fake_private_key(),
    }


def sse_events(response: httpx.Response) -> list[dict | str]:
    """The `data:` payloads of a streamed answer: parsed JSON, or "[DONE]"."""
    events: list[dict | str] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[6:]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


# --- providers of every kind, routing (added by the providers work) ----------

# How each provider kind's base_url is written (API.md): the OpenAI family and LM Studio
# with /v1, Anthropic and Gemini without, Ollama its root.
BASE_PATHS = {
    "openai": "/v1",
    "openai_compatible": "/v1",
    "lmstudio": "/v1",
    "anthropic": "",
    "gemini": "",
    "ollama": "",
}


def reset_fake(provider: FakeProvider) -> None:
    """A fake back to the defaults `gateway_defaults` gives the module's `fake`."""
    provider.reset()
    provider.configure(
        reply_text=None, prompt_tokens=None, completion_tokens=None, latency_s=0.0,
        chunk_delay_s=0.0, stream_chunks=4, cut_after_frames=2, tool_arguments=None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fake2() -> Iterator[FakeProvider]:
    """A second upstream, to prove which provider a request reached."""
    with FakeProvider() as provider:
        yield provider


@dataclass
class Fleet:
    """Providers of any kind on fake upstreams, routes to them and keys, through the
    services (as the REST API creates them)."""

    operator: Any

    def provider(self, name: str, upstream: FakeProvider, kind: str = "openai", **fields) -> Any:
        return create_provider(
            actor=self.operator, name=name, kind=kind,
            base_url=upstream.url + BASE_PATHS[kind], api_key=f"sk-upstream-{name}", **fields,
        )  # fmt: skip

    def route(self, name: str, provider: Any, **fields) -> Any:
        fields.setdefault("input_usd_per_mtok", PRICE_IN)
        fields.setdefault("output_usd_per_mtok", PRICE_OUT)
        return create_model_route(actor=self.operator, name=name, provider=provider, **fields)

    def key(self, owner: Any, **policy) -> str:
        _, raw = mint_key(actor=self.operator, owner=owner, name=policy.pop("name", "k"), **policy)
        return raw


@pytest.fixture
def fleet(redis_client, operator) -> Fleet:
    return Fleet(operator=operator)


def usd(nano: int) -> Decimal:
    """Nano-USD as the ledger stores it (micro-dollars, rounded up)."""
    return nano_to_usd(-(-nano // 1000) * 1000).quantize(Decimal("0.000001"))


def post_json(url: str, body: dict, headers: dict[str, str], timeout: float = 10) -> httpx.Response:
    return httpx.post(url, json=body, headers=headers, timeout=timeout)
