"""Exactness under real parallel load, across two gateway processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import httpx
import pytest
from django.db.models import Sum

from gateway.estimate import chat_prompt_tokens
from governance.counters.base import nano_to_usd
from governance.models import UsageRecord
from tests.gateway_harness import (
    auth,
    chat_body,
    make_user,
    reservation_nano,
    spend,
    wait_for_records,
    wait_until,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
BODY = chat_body(max_tokens=50)
COST = reservation_nano(BODY)


gateways = gateways_fixture("gw-concurrency", count=2)


def _blast(gateways, raw: str, count: int, body: dict = BODY) -> list[httpx.Response]:
    """`count` requests at once, alternating between the gateway processes."""

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        gateways[i % len(gateways)].url + "/v1/chat/completions",
                        json=body,
                        headers=auth(raw),
                    )
                    for i in range(count)
                )
            )

    return asyncio.run(run())


def _usd(nano: int) -> Decimal:
    return nano_to_usd(nano).quantize(Decimal("0.000001"))


def test_budget_for_exactly_n_serves_exactly_n_of_200(gateways, setup, operator, tenant_a):
    served_target = 37
    # The provider reports exactly what was reserved, so no settle frees budget mid-run.
    setup.fake.configure(prompt_tokens=chat_prompt_tokens(BODY), completion_tokens=50)
    user = make_user(
        operator, tenant_a, "c1@acme.test", daily_budget_usd=_usd(served_target * COST)
    )
    _, raw = setup.key(user)
    gateways.sync()
    responses = _blast(gateways, raw, 200)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: served_target, 402: 200 - served_target}, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 402} == {
        "budget_exceeded"
    }
    assert setup.fake.request_count == served_target
    rows = wait_for_records([r.headers["x-candela-request-id"] for r in responses])
    assert len(rows) == 200
    served_rows = UsageRecord.objects.filter(user_id=user.id, decision="allowed")
    assert served_rows.count() == served_target
    assert served_rows.aggregate(total=Sum("cost_usd"))["total"] == _usd(served_target * COST)
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == served_target * COST)


def test_60_rpm_key_serves_exactly_60_of_150(gateways, setup, dev_a):
    _, raw = setup.key(dev_a, rate_limit_rpm=60)
    gateways.sync()
    responses = _blast(gateways, raw, 150)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 60, 429: 90}, statuses
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-ratelimit-limit-requests"] == "60"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    served = next(r for r in responses if r.status_code == 200)
    assert served.headers["x-ratelimit-limit-requests"] == "60"
    assert setup.fake.request_count == 60
    rows = wait_for_records([r.headers["x-candela-request-id"] for r in responses])
    assert Counter(row.reason for row in rows) == {"": 60, "rate_limit_exceeded": 90}


def test_user_rpm_is_shared_by_all_the_users_keys(gateways, setup, operator, tenant_a):
    user = make_user(operator, tenant_a, "c2@acme.test", rate_limit_rpm=10)
    _, first = setup.key(user, name="first")
    _, second = setup.key(user, name="second")
    gateways.sync()
    statuses = Counter(
        r.status_code for r in _blast(gateways, first, 6) + _blast(gateways, second, 6)
    )
    assert statuses == {200: 10, 429: 2}
