"""The circuit breaker is shared by gateway processes through Redis: three failures
(seen by either process) open it for both, traffic routes around the provider, after
the open period one probe is let through (half-open) and its success closes it.
Proven by which fake upstream received each request."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import httpx
import pytest

from audit.models import AuditEvent
from tests.gateway_harness import (
    auth,
    chat_body,
    make_user,
    reset_fake,
    wait_until,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
OPEN_SECONDS = 1.0


gateways = gateways_fixture(
    "gw-breaker",
    count=2,
    CANDELA_BREAKER_FAILURES="3",
    CANDELA_BREAKER_OPEN_SECONDS=str(OPEN_SECONDS),
    CANDELA_UPSTREAM_RETRIES="0",  # one attempt per route: failures are easy to count
)


@pytest.fixture
def raw_key(gateways, fleet, fake, fake2, operator, tenant_a) -> str:
    reset_fake(fake2)
    first = fleet.provider("first", fake, priority=1)
    second = fleet.provider("second", fake2, priority=2)
    fleet.route("m", first)
    fleet.route("m", second)
    fleet.route("solo", first)
    user = make_user(operator, tenant_a, "cb@acme.test", daily_budget_usd=Decimal("1"))
    raw = fleet.key(user)
    gateways.sync()
    return raw


def _post(gateway, raw: str) -> httpx.Response:
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json=chat_body(model="m"),
        headers=auth(raw),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def _served_by(gateway, raw: str) -> str:
    return _post(gateway, raw).headers["x-candela-provider"]


def _open_after_three_failures(gateways, raw: str, fake) -> None:
    one, two = gateways
    fake.set_failure("status_500")
    # Failures counted across both processes: the 3rd (wherever it happens) opens it.
    assert [_served_by(g, raw) for g in (one, two, one)] == ["second"] * 3
    assert fake.request_count == 3


def test_open_for_both_processes_then_one_probe_closes_it(gateways, raw_key, fake, fake2):
    one, two = gateways
    _open_after_three_failures(gateways, raw_key, fake)
    # Open: neither process sends anything to `first`.
    assert [_served_by(g, raw_key) for g in (two, one)] == ["second"] * 2
    skipped = _post(two, raw_key).headers["x-candela-request-id"]
    assert fake.request_count == 3
    (event,) = wait_until(lambda: list(AuditEvent.objects.filter(request_id=skipped)))
    assert [(a["provider"], a["outcome"]) for a in event.data["attempts"]] == [
        ("first", "circuit_open"),
        ("second", "ok"),
    ]

    fake.clear_failures()
    fake.configure(latency_s=0.8)  # the probe stays in flight a while
    time.sleep(OPEN_SECONDS + 0.1)
    probe: dict[str, str] = {}
    thread = threading.Thread(target=lambda: probe.setdefault("by", _served_by(one, raw_key)))
    thread.start()
    fake.wait_for_requests(4)
    # Half-open: the probe is the only request let through; the other process routes around.
    assert _served_by(two, raw_key) == "second"
    assert fake.request_count == 4
    thread.join()
    assert probe["by"] == "first"

    fake.configure(latency_s=0.0)
    # The probe succeeded: closed again, for both processes.
    assert [_served_by(g, raw_key) for g in (two, one)] == ["first", "first"]
    assert fake.request_count == 6


def test_a_failed_probe_opens_it_again(gateways, raw_key, fake, fake2):
    one, two = gateways
    _open_after_three_failures(gateways, raw_key, fake)
    time.sleep(OPEN_SECONDS + 0.1)
    assert _served_by(two, raw_key) == "second"  # the probe: `first` failed again
    assert fake.request_count == 4
    assert [_served_by(g, raw_key) for g in (one, two)] == ["second", "second"]
    assert fake.request_count == 4  # open for another period
    fake.clear_failures()
    time.sleep(OPEN_SECONDS + 0.1)
    assert _served_by(one, raw_key) == "first"
    assert wait_until(lambda: fake.request_count == 5)


def test_success_resets_the_count_of_consecutive_failures(gateways, raw_key, fake, fake2):
    one, two = gateways
    fake.fail_next(2, "status_500")
    assert [_served_by(g, raw_key) for g in (one, two)] == ["second", "second"]
    assert _served_by(one, raw_key) == "first"  # resets the count
    fake.fail_next(2, "status_500")
    assert [_served_by(g, raw_key) for g in (two, one)] == ["second", "second"]
    assert _served_by(two, raw_key) == "first"  # still closed: never 3 in a row
    assert fake.request_count == 6


def test_with_every_route_open_the_request_is_refused_unforwarded(gateways, raw_key, fake):
    _open_after_three_failures(gateways, raw_key, fake)
    response = httpx.post(
        gateways[1].url + "/v1/chat/completions",
        json=chat_body(model="solo"),
        headers=auth(raw_key),
        timeout=10,
    )
    assert response.status_code == 502
    assert "circuit" in response.json()["error"]["message"]
    assert fake.request_count == 3
