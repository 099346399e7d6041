"""Provider monthly budgets: spend is counted per provider per UTC month, a hard-capped
provider at its budget is skipped (traffic fails over to the fallbacks), and crossing
70/80/90/100% of a budget schedules the alert check that fires from the ledger."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from audit.models import AuditEvent
from governance import alerts
from governance.counters import provider_keys
from tests.gateway_harness import (
    auth,
    chat_body,
    reset_fake,
    wait_for_records,
    wait_until,
)
from tests.gateway_world import gateways_fixture, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
COST = 8_000  # nano-USD of one answer: 2 prompt + 3 completion tokens at $1 / $2 per million
BUDGET = Decimal("0.00001")  # 10,000 nano-USD: room for one answer, not two


gateways = gateways_fixture("gw-provider-budget")


user = user_fixture("pb@acme.test")


def _chat(gateways, raw: str, model: str = "m") -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions",
        json=chat_body(model=model),
        headers=auth(raw),
        timeout=10,
    )


def _month_spend(redis_client, provider) -> int:
    return int(redis_client.get(provider_keys.provider_month(provider.id, time.time())) or 0)


def test_hard_capped_provider_over_budget_is_skipped_for_the_fallback(
    gateways, fleet, fake, fake2, user, redis_client
):
    reset_fake(fake2)
    capped = fleet.provider("capped", fake, monthly_budget_usd=BUDGET, hard_cap=True)
    spare = fleet.provider("spare", fake2)
    fleet.route("m", capped, fallbacks=["m-spare"])
    fleet.route("m-spare", spare)
    raw = fleet.key(user)
    gateways.sync()
    served = []
    for _ in range(4):
        served.append(_chat(gateways, raw).headers["x-candela-provider"])
        # The spend is counted as the answer settles, just after the client has it.
        assert wait_until(lambda: _month_spend(redis_client, capped) >= COST * min(2, len(served)))
    # Under budget after one answer (8,000 of 10,000), over after two: then skipped.
    assert served == ["capped", "capped", "spare", "spare"]
    assert (fake.request_count, fake2.request_count) == (2, 2)
    assert _month_spend(redis_client, capped) == 2 * COST
    assert _month_spend(redis_client, spare) == 0  # no budget: not tracked


def test_over_budget_without_a_fallback_is_refused_unforwarded(
    gateways, fleet, fake, user, redis_client
):
    only = fleet.provider("only", fake, monthly_budget_usd=BUDGET, hard_cap=True)
    fleet.route("m", only)
    raw = fleet.key(user)
    gateways.sync()
    for answers in (1, 2):
        assert _chat(gateways, raw).status_code == 200
        assert wait_until(lambda n=answers: _month_spend(redis_client, only) == n * COST)
    refused = _chat(gateways, raw)
    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "upstream_error"
    assert "budget" in refused.json()["error"]["message"]
    assert fake.request_count == 2
    (row,) = wait_for_records([refused.headers["x-candela-request-id"]])
    assert (row.reason, row.cost_usd) == ("provider_budget_exhausted", Decimal("0"))


def test_a_soft_budget_is_counted_but_never_blocks(gateways, fleet, fake, user, redis_client):
    soft = fleet.provider("soft", fake, monthly_budget_usd=BUDGET, hard_cap=False)
    fleet.route("m", soft)
    raw = fleet.key(user)
    gateways.sync()
    assert [_chat(gateways, raw).status_code for _ in range(3)] == [200, 200, 200]
    assert wait_until(lambda: _month_spend(redis_client, soft) == 3 * COST)


def test_crossing_a_threshold_schedules_the_alert_check(
    gateways, fleet, fake, user, tenant_a, redis_client
):
    watched = fleet.provider("watched", fake, monthly_budget_usd=BUDGET)
    fleet.route("m", watched)
    raw = fleet.key(user)
    gateways.sync()
    response = _chat(gateways, raw)  # 80% of the budget: crosses 70 and 80
    pending = f"candela:alerts:pending:{tenant_a.id}:watched"
    assert wait_until(lambda: redis_client.exists(pending))
    assert redis_client.llen("celery") >= 1  # the check, queued for a worker
    # What the worker then does: fire the crossed thresholds from the ledger, once.
    wait_for_records([response.headers["x-candela-request-id"]])
    alerts.check_spend(provider_name="watched")
    event = AuditEvent.objects.get(kind="alert", action="alert.fired")
    assert event.data["target"] == "provider:watched"
    assert event.data["claimed"] == [70, 80]


def test_no_threshold_crossed_schedules_nothing(
    gateways, fleet, fake, user, tenant_a, redis_client
):
    roomy = fleet.provider("roomy", fake, monthly_budget_usd=Decimal("1"))
    fleet.route("m", roomy)
    raw = fleet.key(user)
    gateways.sync()
    assert _chat(gateways, raw).status_code == 200
    assert wait_until(lambda: _month_spend(redis_client, roomy) == COST)
    assert not redis_client.exists(f"candela:alerts:pending:{tenant_a.id}:roomy")
    assert redis_client.llen("celery") == 0
