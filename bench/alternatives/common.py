"""The bare raw-ASGI proxy the alternatives share; only the upstream client differs.

Per request it does what the cheapest governed proxy must: read the body,
parse it (orjson) for the model, optionally two Redis round trips (reserve
before the call, settle after it, each one EVALSHA as Candela's counter store
does), forward to the upstream, parse the answer for usage, answer.

Environment: BENCH_UPSTREAM (full chat-completions URL of the fake upstream),
BENCH_REDIS_URL (empty: no Redis round trips).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
import redis.asyncio as redis

# Reserve: add the worst case to today's spend and give the reservation an expiry;
# settle: swap the reservation for the real cost. Enough to cost what Redis costs.
RESERVE = """
local spent = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], 86400)
return spent
"""
SETTLE = "return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])"
SPEND_KEY = "bench:alternatives:spend"
WORST_CASE = "0.001"
REAL_COST = "-0.0009"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Upstream(Protocol):
    """One pooled HTTP client; `post` returns (status, body)."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class Proxy:
    def __init__(self, make_upstream: Callable[[], Upstream]) -> None:
        self.make_upstream = make_upstream
        self.url = os.environ["BENCH_UPSTREAM"]
        self.redis_url = os.environ.get("BENCH_REDIS_URL", "")
        self.upstream: Upstream | None = None
        self.redis: redis.Redis | None = None
        self.reserve: Any = None  # registered Lua scripts, once Redis is connected
        self.settle: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.handle(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.upstream = self.make_upstream()
                if self.redis_url:
                    self.redis = redis.Redis.from_url(self.redis_url)
                    self.reserve = self.redis.register_script(RESERVE)
                    self.settle = self.redis.register_script(SETTLE)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.upstream is not None:
                    await self.upstream.close()
                if self.redis is not None:
                    await self.redis.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        request = orjson.loads(body)
        model = request["model"]
        if self.redis is not None:
            await self.reserve(keys=[SPEND_KEY], args=[WORST_CASE])
        assert self.upstream is not None
        status, answer = await self.upstream.post(
            self.url, body, {"Content-Type": "application/json", "Authorization": "Bearer sk-x"}
        )
        usage = orjson.loads(answer).get("usage") or {}
        if self.redis is not None:
            await self.settle(keys=[SPEND_KEY], args=[REAL_COST])
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"x-bench-model", model.encode()),
                    (b"x-bench-tokens", str(usage.get("total_tokens", 0)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})
