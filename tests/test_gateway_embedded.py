"""Embedded mode: no REDIS_URL, the same pipeline on the in-process counter store."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from gateway.estimate import chat_prompt_tokens
from governance.counters.base import nano_to_usd
from tests.gateway_harness import (
    auth,
    chat_body,
    make_user,
    reservation_nano,
    running_gateways,
    wait_for_records,
)

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
BODY = chat_body(max_tokens=30)
COST = reservation_nano(BODY)


def _blast(url: str, raw: str, count: int) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(url + "/v1/chat/completions", json=BODY, headers=auth(raw))
                    for _ in range(count)
                )
            )

    return asyncio.run(run())


def test_embedded_gateway_enforces_budget_and_rate_limit_in_process(
    tmp_path, setup, operator, tenant_a
):
    setup.fake.configure(prompt_tokens=chat_prompt_tokens(BODY), completion_tokens=30)
    budget = nano_to_usd(4 * COST).quantize(Decimal("0.000001"))
    spender = make_user(operator, tenant_a, "e1@acme.test", daily_budget_usd=budget)
    _, budget_key = setup.key(spender)
    _, rpm_key = setup.key(make_user(operator, tenant_a, "e2@acme.test"), rate_limit_rpm=5)
    # Embedded policy changes reach the gateway in process only: create everything first.
    with running_gateways(tmp_path, REDIS_URL=None) as gateways:
        url = gateways.url
        budget_run = _blast(url, budget_key, 12)
        rpm_run = _blast(url, rpm_key, 9)
        with httpx.stream(
            "POST",
            url + "/v1/chat/completions",
            json={**BODY, "stream": True},
            headers=auth(rpm_key),
        ) as streamed:
            assert streamed.status_code == 429  # the window is still full
    assert Counter(r.status_code for r in budget_run) == {200: 4, 402: 8}
    assert Counter(r.status_code for r in rpm_run) == {200: 5, 429: 4}
    assert setup.fake.request_count == 9
    ids = [r.headers["x-candela-request-id"] for r in budget_run + rpm_run]
    rows = wait_for_records(ids)
    assert len(rows) == len(ids)
    charged = sum(row.cost_usd for row in rows if row.user_id == spender.id)
    assert charged == nano_to_usd(4 * COST).quantize(Decimal("0.000001"))
