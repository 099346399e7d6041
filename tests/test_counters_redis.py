"""Redis-specific behaviour of the counter store: key layout and failing closed."""

from __future__ import annotations

import asyncio
import socket

import pytest
from django.conf import settings
from test_counters_support import TENANT, USER, at, request

from governance.counters.base import CounterStoreUnavailable, GrantSlot
from governance.counters.keys import PERIOD_GRACE_SECONDS
from governance.counters.redis_store import RedisCounterStore


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there once the socket is closed


def test_unreachable_redis_fails_closed():
    async def scenario():
        store = RedisCounterStore(closed_port_url(), socket_timeout=0.5)
        outcomes = []
        calls = [
            store.ping(),
            store.reserve(request(cost_nano=1)),
            store.settle(tenant_id=TENANT, request_id="a", actual_nano=1),
            store.spend(tenant_id=TENANT, user_id=USER, now=at("2026-11-25T12:00:00")),
        ]
        for call in calls:
            with pytest.raises(CounterStoreUnavailable):
                await call
            outcomes.append("unavailable")
        await store.aclose()
        return outcomes

    assert asyncio.run(scenario()) == ["unavailable"] * 4


def test_ping_succeeds_on_a_live_redis(redis_client):
    async def scenario():
        store = RedisCounterStore(settings.REDIS_URL)
        try:
            await store.ping()
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_every_key_carries_the_tenant_hash_tag_and_expires_after_its_period(redis_client):
    now = at("2026-11-25T18:00:00")
    grant = GrantSlot(grant_id=9, amount_nano=1_000, expires_at=now + 3_600)

    async def scenario():
        store = RedisCounterStore(settings.REDIS_URL)
        try:
            await store.reserve(
                request(
                    now=now,
                    cost_nano=1_500,
                    key_rpm=10,
                    user_rpm=10,
                    user_daily_budget_nano=1_000,
                    grants=(grant,),
                )
            )
        finally:
            await store.aclose()

    asyncio.run(scenario())
    names = sorted(key.decode() for key in redis_client.keys("*"))
    assert names and all(name.startswith(f"candela:{{t{TENANT}}}:") for name in names)
    user_day = f"candela:{{t{TENANT}}}:user:{USER}:day:20261125"
    assert int(redis_client.get(user_day)) == 1_000
    # Six hours to the end of the UTC day, then the grace period.
    day_left = 6 * 3_600 + PERIOD_GRACE_SECONDS
    assert day_left - 2 <= redis_client.ttl(user_day) <= day_left
    month = f"candela:{{t{TENANT}}}:tenant:month:202611"
    month_left = 5 * 86_400 + 6 * 3_600 + PERIOD_GRACE_SECONDS
    assert month_left - 2 <= redis_client.ttl(month) <= month_left
    assert int(redis_client.get(f"candela:{{t{TENANT}}}:grant:9")) == 500


def test_build_counter_store_follows_the_redis_setting(settings):
    from governance.counters.base import build_counter_store
    from governance.counters.memory_store import MemoryCounterStore

    shared = build_counter_store()
    settings.REDIS_URL = ""
    embedded = build_counter_store()
    asyncio.run(shared.aclose())
    assert isinstance(shared, RedisCounterStore)
    assert isinstance(embedded, MemoryCounterStore)
