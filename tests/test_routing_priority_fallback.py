"""Routing by priority, fallbacks on 429/5xx/timeouts/connection errors with bounded
retries, and `x-candela-provider` naming who served: proven by which fake upstream
received each request."""

from __future__ import annotations

import threading
from decimal import Decimal

import httpx
import pytest

from audit.models import AuditEvent
from gateway.estimate import chat_prompt_tokens
from gateway.fallback import MAX_ATTEMPTS
from governance.counters.base import cost_nano
from tests.gateway_harness import (
    auth,
    chat_body,
    reset_fake,
    spend,
    usd,
    wait_for_records,
    wait_until,
)
from tests.gateway_world import gateways_fixture, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture(
    "gw-fallback",
    CANDELA_UPSTREAM_RETRIES="1",
    CANDELA_UPSTREAM_READ_TIMEOUT="1",
    CANDELA_BREAKER_FAILURES="100",  # the breaker has its own module
)


user = user_fixture("route@acme.test")


@pytest.fixture
def two(fleet, fake, fake2):
    """`chat` on `first` (priority 10, fake) and `second` (priority 20, fake2)."""
    reset_fake(fake2)
    first = fleet.provider("first", fake, priority=10)
    second = fleet.provider("second", fake2, priority=20)
    fleet.route("chat", second, upstream_model="model-two")
    fleet.route("chat", first, upstream_model="model-one")
    return fleet


def _chat(gateways, raw: str, **extra) -> httpx.Response:
    body = chat_body(model="chat", **extra)
    return httpx.post(
        gateways.url + "/v1/chat/completions", json=body, headers=auth(raw), timeout=20
    )


def _attempts(request_id: str) -> list[dict]:
    (event,) = wait_until(lambda: list(AuditEvent.objects.filter(request_id=request_id)))
    return event.data.get("attempts", [])


def test_lowest_priority_number_serves_and_is_named(gateways, two, user, fake, fake2):
    raw = two.key(user)
    gateways.sync()
    response = _chat(gateways, raw)
    assert response.status_code == 200
    assert response.headers["x-candela-provider"] == "first"
    assert [r.json["model"] for r in fake.requests] == ["model-one"]
    assert fake2.request_count == 0
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert row.provider == "first"


@pytest.mark.parametrize(
    ("mode", "first_tries", "outcome"),
    [
        ("status_429", 1, "upstream_rejected"),  # rate limited: straight to the next route
        ("status_503", 2, "upstream_error"),  # 5xx: one retry on the same route first
        ("connection_reset", 2, "upstream_error"),
        ("hang", 1, "upstream_timeout"),  # a timeout already waited: no retry
    ],
)
def test_failures_fall_over_to_the_next_route(
    gateways, two, user, fake, fake2, tenant_a, mode, first_tries, outcome
):
    raw = two.key(user)
    gateways.sync()
    fake.set_failure(mode)
    response = _chat(gateways, raw)
    assert response.status_code == 200, response.text
    assert response.headers["x-candela-provider"] == "second"
    assert response.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert fake.request_count == first_tries
    assert [r.json["model"] for r in fake2.requests] == ["model-two"]
    request_id = response.headers["x-candela-request-id"]
    attempts = _attempts(request_id)
    assert [a["provider"] for a in attempts] == ["first"] * first_tries + ["second"]
    assert [a["outcome"] for a in attempts] == [outcome] * first_tries + ["ok"]
    # Failed attempts cost nothing: the charge is the serving answer's exact cost.
    (row,) = wait_for_records([request_id])
    assert (row.provider, row.prompt_tokens, row.completion_tokens) == ("second", 2, 3)
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == 8_000)
    fake.clear_failures()


def test_one_5xx_is_retried_on_the_same_route(gateways, two, user, fake, fake2):
    raw = two.key(user)
    gateways.sync()
    fake.fail_next(1, "status_500")
    response = _chat(gateways, raw)
    assert response.status_code == 200
    assert response.headers["x-candela-provider"] == "first"
    assert fake.request_count == 2 and fake2.request_count == 0


def test_a_4xx_from_the_provider_is_not_failed_over(gateways, two, user, fake, fake2):
    raw = two.key(user)
    gateways.sync()
    fake.fail_next(1, "status_400")
    response = _chat(gateways, raw)
    assert response.status_code == 400
    assert fake.request_count == 1 and fake2.request_count == 0


def test_fallback_models_are_tried_in_order_at_their_own_price(
    gateways, fleet, fake, fake2, user, tenant_a
):
    reset_fake(fake2)
    primary = fleet.provider("primary", fake)
    backup = fleet.provider("backup", fake2)
    fleet.route("big", primary, fallbacks=["small", "missing"])
    fleet.route("small", backup, input_usd_per_mtok=Decimal("3"), output_usd_per_mtok=Decimal("5"))
    raw = fleet.key(user)
    gateways.sync()
    fake.set_failure("status_500")
    body = chat_body(model="big", max_tokens=50)
    response = httpx.post(
        gateways.url + "/v1/chat/completions", json=body, headers=auth(raw), timeout=20
    )
    assert response.status_code == 200
    assert response.headers["x-candela-provider"] == "backup"
    assert [r.json["model"] for r in fake2.requests] == ["small"]
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert row.model == "big" and row.provider == "backup"
    exact = cost_nano(2, 3, Decimal("3"), Decimal("5"))
    assert row.cost_usd == usd(exact)
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == exact)


def test_reservation_covers_the_dearest_route(gateways, fleet, fake, fake2, user, tenant_a):
    reset_fake(fake2)
    cheap = fleet.provider("cheap", fake)
    dear = fleet.provider("dear", fake2)
    fleet.route("m", cheap, fallbacks=["m-dear"])
    fleet.route("m-dear", dear, input_usd_per_mtok=Decimal("10"), output_usd_per_mtok=Decimal("30"))
    raw = fleet.key(user)
    gateways.sync()
    fake.configure(latency_s=0.8)
    body = chat_body(model="m", max_tokens=100)
    done: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: done.setdefault(
            "r",
            httpx.post(gateways.url + "/v1/chat/completions", json=body, headers=auth(raw)),
        )
    )
    thread.start()
    in_flight = wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano)
    thread.join()
    assert in_flight == cost_nano(chat_prompt_tokens(body), 100, Decimal("10"), Decimal("30"))
    assert done["r"].headers["x-candela-provider"] == "cheap"
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == 8_000)


def test_every_route_failing_is_one_clean_502_with_bounded_attempts(
    gateways, two, user, fake, fake2, tenant_a
):
    raw = two.key(user)
    gateways.sync()
    fake.set_failure("status_500")
    fake2.set_failure("status_502")
    response = _chat(gateways, raw)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert (fake.request_count, fake2.request_count) == (2, 2)  # 1 retry each, then stop
    request_id = response.headers["x-candela-request-id"]
    attempts = _attempts(request_id)
    assert [a["provider"] for a in attempts] == ["first", "first", "second", "second"]
    assert len(attempts) <= MAX_ATTEMPTS
    (row,) = wait_for_records([request_id])
    assert (row.decision, row.reason, row.cost_usd) == ("error", "upstream_error", Decimal("0"))
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == 0)


def test_streams_fall_over_before_their_first_byte(gateways, two, user, fake, fake2):
    raw = two.key(user)
    gateways.sync()
    fake.set_failure("status_503")
    with httpx.stream(
        "POST",
        gateways.url + "/v1/chat/completions",
        json=chat_body(model="chat", stream=True),
        headers=auth(raw),
        timeout=20,
    ) as response:
        assert response.status_code == 200
        assert response.headers["x-candela-provider"] == "second"
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert fake2.requests[-1].stream
