"""The budget gate: worst case reserved, exact cost settled, grants spent by expiry,
failed upstream calls free, streamed answers charged like plain ones."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from gateway.estimate import chat_prompt_tokens
from governance.counters.base import cost_nano, nano_to_usd
from governance.services.grants import create_grant
from tests.gateway_harness import (
    PRICE_IN,
    PRICE_OUT,
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
BODY = chat_body(max_tokens=100)
RESERVE = reservation_nano(BODY)  # (ceil(11 bytes / 3) + 4 + 3) * 1000 + 100 * 2000 nano


gateways = gateways_fixture("gw-budget", CANDELA_UPSTREAM_READ_TIMEOUT="1")


def _usd(nano: int) -> Decimal:
    assert nano % 1000 == 0, "amounts in these tests are whole micro-dollars"
    return nano_to_usd(nano).quantize(Decimal("0.000001"))


def _post(gateways, raw: str, body: dict = BODY) -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions", json=body, headers=auth(raw), timeout=10
    )


def _exact_usage(fake) -> int:
    """Make the provider report exactly what was reserved; returns that cost."""
    fake.configure(prompt_tokens=chat_prompt_tokens(BODY), completion_tokens=100)
    return RESERVE


def test_worst_case_is_reserved_then_settled_to_the_exact_cost(gateways, setup, operator, tenant_a):
    user = make_user(operator, tenant_a, "b1@acme.test", daily_budget_usd=Decimal("1"))
    _, raw = setup.key(user)
    gateways.sync()
    setup.fake.configure(latency_s=0.6)
    result: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", _post(gateways, raw)))
    thread.start()
    in_flight = wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano)
    thread.join()
    assert in_flight == RESERVE == 211_000
    response = result["r"]
    assert response.status_code == 200
    usage = response.json()["usage"]
    exact = cost_nano(usage["prompt_tokens"], usage["completion_tokens"], PRICE_IN, PRICE_OUT)
    assert exact == 8_000  # 2 prompt + 3 completion words at $1/$2 per million
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == exact)
    view = spend(tenant_a.id, user.id)
    assert (view.tenant_day_nano, view.tenant_month_nano) == (exact, exact)
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.prompt_tokens, row.completion_tokens) == (2, 3)
    assert row.cost_usd == _usd(exact)
    assert (row.decision, row.tenant_id, row.user_id) == ("allowed", tenant_a.id, user.id)


def test_budget_exhausted_is_402_and_not_forwarded(gateways, setup, operator, tenant_a):
    cost = _exact_usage(setup.fake)
    user = make_user(operator, tenant_a, "b2@acme.test", daily_budget_usd=_usd(2 * cost))
    _, raw = setup.key(user)
    gateways.sync()
    assert [_post(gateways, raw).status_code for _ in range(2)] == [200, 200]
    refused = _post(gateways, raw)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert setup.fake.request_count == 2
    (row,) = wait_for_records([refused.headers["x-candela-request-id"]])
    assert (row.decision, row.reason, row.cost_usd) == ("denied", "budget_exceeded", 0)
    assert spend(tenant_a.id, user.id).user_day_nano == 2 * cost


def test_grants_are_spent_after_the_daily_budget_soonest_expiry_first(
    gateways, setup, operator, tenant_a
):
    cost = _exact_usage(setup.fake)
    user = make_user(operator, tenant_a, "b3@acme.test", daily_budget_usd=_usd(cost))
    now = timezone.now()
    late = create_grant(
        actor=operator, user=user, amount_usd=_usd(2 * cost), expires_at=now + timedelta(days=9)
    )
    soon = create_grant(
        actor=operator, user=user, amount_usd=_usd(2 * cost), expires_at=now + timedelta(days=2)
    )
    _, raw = setup.key(user)
    gateways.sync()
    grants = (soon.id, late.id)

    def after(n_requests: int) -> tuple[int, int, int]:
        for _ in range(n_requests):
            assert _post(gateways, raw).status_code == 200
        view = spend(tenant_a.id, user.id, grants)
        return view.user_day_nano, view.grant_spent_nano[soon.id], view.grant_spent_nano[late.id]

    assert after(1) == (cost, 0, 0)
    assert after(2) == (cost, 2 * cost, 0)
    assert after(1) == (cost, 2 * cost, cost)
    assert after(1) == (cost, 2 * cost, 2 * cost)
    refused = _post(gateways, raw)
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "budget_exceeded")
    assert setup.fake.request_count == 5


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("status_500", 502, "upstream_error"),
        ("connection_reset", 502, "upstream_error"),
        ("garbage_json", 502, "upstream_error"),
        ("hang", 504, "upstream_timeout"),
        ("status_400", 400, "invalid_request_error"),
    ],
)
def test_failed_upstream_call_is_not_charged(
    gateways, setup, operator, tenant_a, mode, status, code
):
    cost = _exact_usage(setup.fake)
    user = make_user(operator, tenant_a, "b4@acme.test", daily_budget_usd=_usd(cost))
    _, raw = setup.key(user)
    gateways.sync()
    setup.fake.set_failure(mode)  # every attempt fails, retries included
    failed = _post(gateways, raw)
    assert failed.status_code == status, failed.text
    assert failed.json()["error"]["code"] == code
    setup.fake.clear_failures()
    (row,) = wait_for_records([failed.headers["x-candela-request-id"]])
    assert (row.decision, row.cost_usd, row.status_code) == ("error", 0, status)
    assert spend(tenant_a.id, user.id).user_day_nano == 0
    # The reservation was released: the whole budget is still there for one request.
    assert _post(gateways, raw).status_code == 200


def test_one_upstream_failure_is_retried_and_charged_once(gateways, setup, operator, tenant_a):
    cost = _exact_usage(setup.fake)
    user = make_user(operator, tenant_a, "b5@acme.test", daily_budget_usd=Decimal("1"))
    _, raw = setup.key(user)
    gateways.sync()
    setup.fake.fail_next(1, "status_500")
    assert _post(gateways, raw).status_code == 200
    assert setup.fake.request_count == 2
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == cost)


def test_streamed_answer_is_charged_exactly_like_a_plain_one(gateways, setup, operator, tenant_a):
    user = make_user(operator, tenant_a, "b6@acme.test", daily_budget_usd=Decimal("1"))
    _, raw = setup.key(user)
    gateways.sync()
    plain = _post(gateways, raw)
    with httpx.stream(
        "POST",
        gateways.url + "/v1/chat/completions",
        json={**BODY, "stream": True},
        headers=auth(raw),
    ) as streamed:
        assert streamed.status_code == 200
        streamed.read()
    rows = wait_for_records(
        [plain.headers["x-candela-request-id"], streamed.headers["x-candela-request-id"]]
    )
    by_stream = {row.streamed: row for row in rows}
    assert set(by_stream) == {False, True}
    assert by_stream[True].cost_usd == by_stream[False].cost_usd == _usd(8_000)
    assert (by_stream[True].prompt_tokens, by_stream[True].completion_tokens) == (2, 3)
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == 16_000)
