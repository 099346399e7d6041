"""Tenant daily and monthly spend caps: 402 spend_cap_exceeded, shared by the tenant."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from gateway.estimate import chat_prompt_tokens
from governance.counters.base import nano_to_usd
from governance.services.tenants import update_tenant
from tests.gateway_harness import (
    auth,
    chat_body,
    make_user,
    reservation_nano,
    spend,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
BODY = chat_body(max_tokens=20)
COST = reservation_nano(BODY)


gateways = gateways_fixture("gw-caps")


def _usd(nano: int) -> Decimal:
    return nano_to_usd(nano).quantize(Decimal("0.000001"))


def _post(gateways, raw: str) -> httpx.Response:
    return httpx.post(gateways.url + "/v1/chat/completions", json=BODY, headers=auth(raw))


@pytest.fixture
def two_users(setup, operator, tenant_a):
    setup.fake.configure(prompt_tokens=chat_prompt_tokens(BODY), completion_tokens=20)
    first = make_user(operator, tenant_a, "cap1@acme.test", daily_budget_usd=Decimal("5"))
    second = make_user(operator, tenant_a, "cap2@acme.test")
    return setup.key(first)[1], setup.key(second)[1]


@pytest.mark.parametrize("cap", ["daily_cap_usd", "monthly_cap_usd"])
def test_tenant_cap_is_shared_by_its_users(gateways, setup, operator, tenant_a, two_users, cap):
    update_tenant(actor=operator, tenant=tenant_a, **{cap: _usd(3 * COST)})
    gateways.sync()
    first, second = two_users
    statuses = [_post(gateways, raw).status_code for raw in (first, second, first)]
    assert statuses == [200, 200, 200]
    for raw in (first, second):
        refused = _post(gateways, raw)
        assert refused.status_code == 402
        assert refused.json()["error"]["code"] == "spend_cap_exceeded"
        (row,) = wait_for_records([refused.headers["x-candela-request-id"]])
        assert (row.decision, row.reason) == ("denied", "spend_cap_exceeded")
    assert setup.fake.request_count == 3


def test_other_tenants_are_not_affected(gateways, setup, operator, tenant_a, dev_b, two_users):
    update_tenant(actor=operator, tenant=tenant_a, daily_cap_usd=Decimal("0"))
    _, raw_b = setup.key(dev_b)
    gateways.sync()
    assert _post(gateways, two_users[0]).status_code == 402
    assert _post(gateways, raw_b).status_code == 200


def test_cap_holds_under_concurrency(gateways, setup, operator, tenant_a, two_users):
    update_tenant(actor=operator, tenant=tenant_a, daily_cap_usd=_usd(9 * COST))
    gateways.sync()

    async def blast() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(gateways.url + "/v1/chat/completions", json=BODY, headers=auth(raw))
                    for raw in two_users * 20
                )
            )

    statuses = Counter(r.status_code for r in asyncio.run(blast()))
    assert statuses == {200: 9, 402: 31}
    assert spend(tenant_a.id, 0).tenant_day_nano == 9 * COST
