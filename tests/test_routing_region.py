"""Region pinning: a key's (or its tenant's) data residency restricts routing,
fallbacks included, to providers in that region; when none can serve, 403
`provider_not_permitted` and nothing is forwarded. Never a silent fall over to
another region: proven by which fake upstream received the request."""

from __future__ import annotations

from decimal import Decimal

import anthropic
import httpx
import pytest

from governance.services.tenants import update_tenant
from tests.gateway_harness import (
    auth,
    chat_body,
    reset_fake,
    wait_for_records,
)
from tests.gateway_world import anthropic_client, gateways_fixture, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-region", CANDELA_BREAKER_FAILURES="100")


user = user_fixture("eu@acme.test")


@pytest.fixture
def regions(fleet, fake, fake2):
    """`m` on a US provider (fake, tried first) and an EU one (fake2); `m` falls back
    to `m-us-only`, served in the US only."""
    reset_fake(fake2)
    us = fleet.provider("us-east", fake, region="us", priority=1)
    eu = fleet.provider("eu-west", fake2, region="eu", priority=2, kind="anthropic")
    fleet.route("m", us, fallbacks=["m-us-only"])
    fleet.route("m", eu)
    fleet.route("m-us-only", us)
    return fleet


def _chat(gateways, raw: str, model: str = "m") -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions",
        json=chat_body(model=model),
        headers=auth(raw),
        timeout=10,
    )


def test_unpinned_key_follows_priority(gateways, regions, user, fake, fake2):
    raw = regions.key(user)
    gateways.sync()
    assert _chat(gateways, raw).headers["x-candela-provider"] == "us-east"
    assert fake.request_count == 1 and fake2.request_count == 0


def test_eu_key_is_served_in_the_eu_only(gateways, regions, user, fake, fake2):
    raw = regions.key(user, data_residency="eu")
    gateways.sync()
    response = _chat(gateways, raw)
    assert response.status_code == 200
    assert response.headers["x-candela-provider"] == "eu-west"
    assert fake.request_count == 0 and fake2.requests_to("/v1/messages")
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert row.provider == "eu-west"


def test_eu_provider_failing_never_falls_over_to_the_us(gateways, regions, user, fake, fake2):
    raw = regions.key(user, data_residency="eu")
    gateways.sync()
    fake2.set_failure("status_503")
    response = _chat(gateways, raw)
    assert response.status_code == 502
    assert fake2.request_count >= 1
    assert fake.request_count == 0  # neither `m` in the US nor the fallback `m-us-only`


def test_tenant_residency_applies_to_keys_without_one(gateways, regions, user, tenant_a, fake):
    update_tenant(actor=regions.operator, tenant=tenant_a, data_residency="eu")
    raw = regions.key(user)
    gateways.sync()
    assert _chat(gateways, raw).headers["x-candela-provider"] == "eu-west"
    assert fake.request_count == 0


def test_no_provider_in_the_region_is_403_and_nothing_is_forwarded(
    gateways, regions, user, fake, fake2
):
    raw = regions.key(user, data_residency="apac")
    gateways.sync()
    response = _chat(gateways, raw)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "provider_not_permitted"
    # The fallback exists only in the US: a pinned request may not use it either.
    assert _chat(gateways, raw, "m-us-only").status_code == 403
    assert fake.request_count == 0 and fake2.request_count == 0
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.decision, row.reason, row.cost_usd) == (
        "denied",
        "provider_not_permitted",
        Decimal("0"),
    )


def test_conflicting_key_and_tenant_pins_permit_nothing(gateways, regions, user, tenant_a, fake):
    update_tenant(actor=regions.operator, tenant=tenant_a, data_residency="us")
    raw = regions.key(user, data_residency="eu")
    gateways.sync()
    assert _chat(gateways, raw).status_code == 403
    assert fake.request_count == 0


def test_anthropic_clients_get_the_403_in_their_format(gateways, regions, user):
    raw = regions.key(user, data_residency="apac")
    gateways.sync()
    client = anthropic_client(gateways, raw)
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert refused.value.body["error"]["code"] == "provider_not_permitted"
