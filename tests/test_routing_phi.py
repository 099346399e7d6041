"""PHI tenants route only to providers on their BAA list (that have a BAA signed),
fallbacks included; fail-closed with 403 `provider_not_permitted`. Proven by which
fake upstream received the request."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from governance.services.providers import update_provider
from governance.services.tenants import create_tenant
from tests.gateway_harness import (
    auth,
    chat_body,
    make_user,
    reset_fake,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-phi", CANDELA_BREAKER_FAILURES="100")


@pytest.fixture
def providers(fleet, fake, fake2):
    """`m` on `cheap` (no BAA, fake, tried first) and `covered` (BAA, fake2);
    `m` falls back to `m-cheap`, served by `cheap` only."""
    reset_fake(fake2)
    cheap = fleet.provider("cheap", fake, priority=1)
    covered = fleet.provider("covered", fake2, priority=2, baa=True)
    fleet.route("m", cheap, fallbacks=["m-cheap"])
    fleet.route("m", covered)
    fleet.route("m-cheap", cheap)
    return {"cheap": cheap, "covered": covered}


def _clinic(operator, fleet, baa_providers: list[str]) -> str:
    tenant = create_tenant(
        actor=operator, name="Clinic", slug="clinic", is_phi=True, baa_providers=baa_providers
    )
    doctor = make_user(operator, tenant, "dr@clinic.test", daily_budget_usd=Decimal("1"))
    return fleet.key(doctor)


def _chat(gateways, raw: str, model: str = "m") -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions",
        json=chat_body(model=model),
        headers=auth(raw),
        timeout=10,
    )


def test_phi_tenant_is_served_by_its_baa_provider_only(
    gateways, providers, fleet, operator, fake, fake2
):
    raw = _clinic(operator, fleet, ["covered"])
    gateways.sync()
    response = _chat(gateways, raw)
    assert response.status_code == 200
    assert response.headers["x-candela-provider"] == "covered"
    assert fake.request_count == 0 and fake2.request_count == 1
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert row.provider == "covered"


def test_other_tenants_still_use_priority(gateways, providers, fleet, dev_a, fake, fake2):
    raw = fleet.key(dev_a)
    gateways.sync()
    assert _chat(gateways, raw).headers["x-candela-provider"] == "cheap"
    assert fake2.request_count == 0


def test_baa_provider_failing_never_falls_over_to_a_non_baa_one(
    gateways, providers, fleet, operator, fake, fake2
):
    raw = _clinic(operator, fleet, ["covered"])
    gateways.sync()
    fake2.set_failure("status_500")
    response = _chat(gateways, raw)
    assert response.status_code == 502
    assert fake2.request_count >= 1 and fake.request_count == 0


def test_fail_closed_without_a_permitted_provider(
    gateways, providers, fleet, operator, fake, fake2
):
    # Listed by the tenant, but without a signed BAA: not permitted either.
    raw = _clinic(operator, fleet, ["cheap"])
    gateways.sync()
    response = _chat(gateways, raw)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "provider_not_permitted"
    assert _chat(gateways, raw, "m-cheap").status_code == 403
    assert fake.request_count == 0 and fake2.request_count == 0
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.decision, row.reason) == ("denied", "provider_not_permitted")


def test_signing_a_baa_opens_the_provider(gateways, providers, fleet, operator, fake):
    raw = _clinic(operator, fleet, ["cheap", "covered"])
    update_provider(actor=operator, provider=providers["cheap"], baa=True)
    gateways.sync()
    assert _chat(gateways, raw).headers["x-candela-provider"] == "cheap"
    assert fake.request_count == 1


def test_gemini_clients_get_the_403_in_their_format(gateways, providers, fleet, operator):
    raw = _clinic(operator, fleet, ["cheap"])
    gateways.sync()
    client = genai.Client(api_key=raw, http_options=types.HttpOptions(base_url=gateways.url))
    with pytest.raises(genai_errors.ClientError) as refused:
        client.models.generate_content(model="m", contents="x")
    assert refused.value.code == 403
    assert refused.value.details["error"]["details"][0]["reason"] == "provider_not_permitted"
