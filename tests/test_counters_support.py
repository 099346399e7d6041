"""Helpers for the counter-store tests (no tests of its own).

Run as a script it is one worker process of the two-process concurrency test: it opens its own
RedisCounterStore, waits at a barrier in Redis, fires its reserves at once and prints a JSON
summary.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from governance.counters.base import CounterStore, ReserveRequest
from governance.counters.memory_store import MemoryCounterStore
from governance.counters.redis_store import RedisCounterStore

STORE_KINDS = ("redis", "memory")
TENANT, USER, KEY = 7, 42, 420
_ids = itertools.count(1)
T = TypeVar("T")


def at(text: str) -> float:
    """Epoch seconds of a UTC ISO timestamp, e.g. at("2026-11-25T23:59:59.9")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


NOW = at("2026-11-25T12:00:00")


def request(**fields) -> ReserveRequest:
    """A reserve request for tenant 7 / user 42 / key 420 at NOW with a fresh id."""
    values = {
        "request_id": f"req-{next(_ids)}",
        "tenant_id": TENANT,
        "user_id": USER,
        "key_id": KEY,
        "now": NOW,
        "cost_nano": 0,
    }
    values.update(fields)
    return ReserveRequest(**values)


def open_store(kind: str, redis_url: str) -> CounterStore:
    return RedisCounterStore(redis_url) if kind == "redis" else MemoryCounterStore()


def run_scenario(kind: str, redis_url: str, scenario: Callable[[CounterStore], Awaitable[T]]) -> T:
    """Run `scenario(store)` on a fresh event loop with a store of `kind`, then close the store."""

    async def main() -> T:
        store = open_store(kind, redis_url)
        try:
            return await scenario(store)
        finally:
            await store.aclose()

    return asyncio.run(main())


async def _worker(redis_url: str, barrier: str, go: str, label: str, count: int, fields: dict):
    import redis.asyncio as redis_asyncio

    store = RedisCounterStore(redis_url)
    control = redis_asyncio.Redis.from_url(redis_url)
    try:
        # Open the pool's connections before the barrier so connecting does not serialise the two.
        await asyncio.gather(*(store.ping() for _ in range(64)))
        await control.rpush(barrier, label)
        await control.blpop([go], timeout=30)
        results = await asyncio.gather(
            *(store.reserve(request(request_id=f"{label}-{i}", **fields)) for i in range(count))
        )
    finally:
        await control.aclose()
        await store.aclose()
    return {
        "ok": sum(r.ok for r in results),
        "reasons": sorted({r.reason for r in results if not r.ok}),
    }


if __name__ == "__main__":
    url, barrier_key, go_key, worker_label, n, raw_fields = sys.argv[1:7]
    summary = asyncio.run(
        _worker(url, barrier_key, go_key, worker_label, int(n), json.loads(raw_fields))
    )
    print(json.dumps(summary))
