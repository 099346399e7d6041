"""Tenant attribution: operator keys name the tenant they bill; tenant keys cannot."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from governance.services.tenants import update_tenant
from tests.gateway_harness import (
    auth,
    chat_body,
    spend,
    wait_for_records,
    wait_until,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-attribution")


def _chat(gateways, raw: str, **headers: str) -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions", json=chat_body(), headers={**auth(raw), **headers}
    )


@pytest.fixture
def operator_key(gateways, setup, operator, tenant_a, tenant_b) -> str:
    key, raw = setup.key(operator, name="platform")
    assert key.tenant_id is None
    gateways.sync()
    return raw


def test_operator_key_bills_the_tenant_named_in_the_header(
    gateways, operator_key, operator, tenant_a, tenant_b
):
    by_id = _chat(gateways, operator_key, **{"X-Candela-Tenant-Id": str(tenant_b.id)})
    by_slug = _chat(gateways, operator_key, **{"X-Candela-Tenant-Id": "acme"})
    assert (by_id.status_code, by_slug.status_code) == (200, 200)
    rows = {
        row.request_id: row
        for row in wait_for_records(
            [by_id.headers["x-candela-request-id"], by_slug.headers["x-candela-request-id"]]
        )
    }
    assert rows[by_id.headers["x-candela-request-id"]].tenant_id == tenant_b.id
    assert rows[by_slug.headers["x-candela-request-id"]].tenant_id == tenant_a.id
    assert {row.user_id for row in rows.values()} == {operator.id}
    assert wait_until(lambda: spend(tenant_b.id, operator.id).tenant_day_nano == 8_000)
    assert spend(tenant_a.id, operator.id).tenant_day_nano == 8_000


def test_operator_key_bills_the_tenant_named_in_baggage(gateways, operator_key, tenant_b):
    baggage = f"userId=alice, candela.tenant_id={tenant_b.slug};ttl=5, other=x"
    response = _chat(
        gateways,
        operator_key,
        baggage=baggage,
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
    )
    assert response.status_code == 200, response.text
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert row.tenant_id == tenant_b.id


def test_operator_key_naming_no_tenant_is_400(gateways, operator_key, fake):
    missing = _chat(gateways, operator_key)
    unknown = _chat(gateways, operator_key, **{"X-Candela-Tenant-Id": "no-such-tenant"})
    for response in (missing, unknown):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"
    assert "X-Candela-Tenant-Id" in missing.json()["error"]["message"]
    assert fake.request_count == 0


def test_tenant_key_naming_another_tenant_is_403(gateways, setup, dev_a, tenant_b, fake):
    _, raw = setup.key(dev_a)
    gateways.sync()
    for headers in (
        {"X-Candela-Tenant-Id": str(tenant_b.id)},
        {"X-Candela-Tenant-Id": "globex"},
        {"baggage": "candela.tenant_id=globex"},
    ):
        response = _chat(gateways, raw, **headers)
        assert response.status_code == 403, headers
        assert response.json()["error"]["code"] == "tenant_mismatch"
    assert fake.request_count == 0
    assert _chat(gateways, raw, **{"X-Candela-Tenant-Id": "acme"}).status_code == 200


def test_caps_of_the_named_tenant_apply_to_operator_keys(
    gateways, operator_key, operator, tenant_b
):
    update_tenant(actor=operator, tenant=tenant_b, daily_cap_usd=Decimal("0.000001"))
    gateways.sync()
    capped = _chat(gateways, operator_key, **{"X-Candela-Tenant-Id": "globex"})
    assert capped.status_code == 402
    assert capped.json()["error"]["code"] == "spend_cap_exceeded"
    assert _chat(gateways, operator_key, **{"X-Candela-Tenant-Id": "acme"}).status_code == 200
