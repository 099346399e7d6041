"""Many reserves at once never overspend: in one event loop and across two OS processes."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from test_counters_support import (
    NOW,
    STORE_KINDS,
    TENANT,
    USER,
    request,
    run_scenario,
)

from governance.counters.base import BUDGET_EXCEEDED, RATE_LIMIT_EXCEEDED, SPEND_CAP_EXCEEDED
from governance.counters.redis_store import RedisCounterStore

COST = 1_000
N = 37
WORKER = Path(__file__).with_name("test_counters_support.py")


@pytest.fixture(params=STORE_KINDS)
def on_store(request, redis_client):
    return functools.partial(run_scenario, request.param, settings.REDIS_URL)


def test_200_concurrent_reserves_against_a_budget_for_n_admit_exactly_n(on_store):
    async def scenario(store):
        results = await asyncio.gather(
            *(
                store.reserve(request(cost_nano=COST, user_daily_budget_nano=N * COST))
                for _ in range(200)
            )
        )
        return results, await store.spend(tenant_id=TENANT, user_id=USER, now=NOW)

    results, view = on_store(scenario)
    assert sum(r.ok for r in results) == N
    assert {r.reason for r in results if not r.ok} == {BUDGET_EXCEEDED}
    assert (view.user_day_nano, view.tenant_day_nano) == (N * COST, N * COST)


def test_concurrent_reserves_of_many_users_stop_exactly_at_the_tenant_cap(on_store):
    async def scenario(store):
        results = await asyncio.gather(
            *(
                store.reserve(
                    request(
                        user_id=i % 8, key_id=i % 8, cost_nano=COST, tenant_daily_cap_nano=N * COST
                    )
                )
                for i in range(200)
            )
        )
        return results, await store.spend(tenant_id=TENANT, user_id=0, now=NOW)

    results, view = on_store(scenario)
    assert sum(r.ok for r in results) == N
    assert {r.reason for r in results if not r.ok} == {SPEND_CAP_EXCEEDED}
    assert view.tenant_day_nano == N * COST


def test_60_rpm_key_hit_by_150_concurrent_reserves_admits_exactly_60(on_store):
    async def scenario(store):
        return await asyncio.gather(*(store.reserve(request(key_rpm=60)) for _ in range(150)))

    results = on_store(scenario)
    assert sum(r.ok for r in results) == 60
    assert {r.reason for r in results if not r.ok} == {RATE_LIMIT_EXCEEDED}


def test_two_processes_sharing_redis_admit_exactly_n_in_total(redis_client):
    # 100 requests each and a budget for 130: each process must win some and lose some.
    n = 130
    fields = json.dumps({"cost_nano": COST, "user_daily_budget_nano": n * COST})
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                settings.REDIS_URL,
                "barrier",
                "go",
                label,
                "100",
                fields,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for label in ("p1", "p2")
    ]
    try:
        # Start both at once: wait until each has connected, then release them together.
        for _ in range(2):
            assert redis_client.blpop(["barrier"], timeout=30) is not None
        redis_client.rpush("go", "1", "1")
        summaries = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    assert all(worker.returncode == 0 for worker in workers)

    async def committed():
        store = RedisCounterStore(settings.REDIS_URL)
        try:
            return await store.spend(tenant_id=TENANT, user_id=USER, now=NOW)
        finally:
            await store.aclose()

    view = asyncio.run(committed())
    assert sum(s["ok"] for s in summaries) == n
    assert {reason for s in summaries for reason in s["reasons"]} == {BUDGET_EXCEEDED}
    assert view.user_day_nano == n * COST
    assert view.tenant_day_nano == n * COST
