"""POST /v1/pii/scan: types and counts, never values; no completion, no charge."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tests.gateway_harness import (
    PII_SAMPLES,
    auth,
    events_for,
    fake_secrets,
    make_user,
    running_gateways,
    spend,
    wait_for_records,
)

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")

EMAIL, SSN, PHONE = PII_SAMPLES["EMAIL"], PII_SAMPLES["SSN"], PII_SAMPLES["PHONE"]


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, django_db_setup):
    with running_gateways(tmp_path_factory.mktemp("gw-pii-scan")) as running:
        yield running


@pytest.fixture
def user(operator, tenant_a):
    return make_user(operator, tenant_a, "scan@acme.test", daily_budget_usd=Decimal("1"))


def _scan(gateways, raw: str | None, body) -> httpx.Response:
    headers = auth(raw) if raw else {}
    return httpx.post(gateways.url + "/v1/pii/scan", json=body, headers=headers, timeout=10)


def test_counts_by_type_without_values(gateways, setup, user, fake, tenant_a):
    # Even a key whose policy blocks PII may scan: nothing is forwarded anyway.
    _, raw = setup.key(user, pii_mode="tokenize", pii_on_detect="block")
    gateways.sync()
    secrets = fake_secrets()
    body = {
        "messages": [
            {"role": "system", "content": f"support line {PHONE}"},
            {"role": "user", "content": f"{EMAIL}, {EMAIL} and ssn {SSN}"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": f'{{"k": "{secrets["API_KEY"]}"}}'},
                    }
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": secrets["JWT"]}]},
        ]
    }
    response = _scan(gateways, raw, body)
    assert response.status_code == 200
    assert response.json() == {
        "pii": {"EMAIL": 2, "SSN": 1, "PHONE": 1},
        "secrets": {"API_KEY": 1, "JWT": 1},
    }
    assert not any(v in response.text for v in (EMAIL, SSN, PHONE, *secrets.values()))
    assert fake.requests == []  # no completion
    request_id = response.headers["x-candela-request-id"]
    (row,) = wait_for_records([request_id])
    assert (row.endpoint, row.cost_usd, row.prompt_tokens) == ("pii.scan", Decimal("0"), 0)
    assert spend(tenant_a.id, user.id).user_day_nano == 0
    (event,) = events_for([request_id])
    assert (event.action, event.decision, event.tenant_slug) == ("pii.scan", "allowed", "acme")
    assert event.data["pii"] == {"EMAIL": 2, "SSN": 1, "PHONE": 1}
    assert event.data["secrets"] == {"API_KEY": 1, "JWT": 1}
    assert event.data["pii_action"] == "scanned"


def test_clean_text_and_empty_counts(gateways, setup, user):
    _, raw = setup.key(user)
    gateways.sync()
    response = _scan(gateways, raw, {"messages": [{"role": "user", "content": "hello there"}]})
    assert (response.status_code, response.json()) == (200, {"pii": {}, "secrets": {}})


def test_anthropic_and_gemini_shapes(gateways, setup, user):
    _, raw = setup.key(user)
    gateways.sync()
    anthropic = {
        "system": [{"type": "text", "text": f"escalate to {EMAIL}"}],
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"ssn": SSN}}],
            }
        ],
    }
    response = _scan(gateways, raw, anthropic)
    assert response.json() == {"pii": {"EMAIL": 1, "SSN": 1}, "secrets": {}}
    gemini = {
        "systemInstruction": {"parts": [{"text": f"call {PHONE}"}]},
        "contents": [
            {"role": "user", "parts": [{"text": f"mail {EMAIL}"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"s": SSN}}}]},
        ],
    }
    response = _scan(gateways, raw, gemini)
    assert response.json() == {"pii": {"EMAIL": 1, "PHONE": 1, "SSN": 1}, "secrets": {}}


def test_needs_a_key_and_a_body(gateways, setup, user, operator):
    _, raw = setup.key(user)
    _, operator_raw = setup.key(operator, name="operator key")
    gateways.sync()
    body = {"messages": [{"role": "user", "content": EMAIL}]}
    denied = _scan(gateways, None, body)
    assert (denied.status_code, denied.json()["error"]["code"]) == (401, "invalid_api_key")
    bad = _scan(gateways, raw, {"text": EMAIL})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_request")
    assert EMAIL not in bad.text
    assert _scan(gateways, raw, {"messages": "hi"}).status_code == 400
    assert _scan(gateways, raw, ["not", "an", "object"]).status_code == 400
    # An operator key scans without naming a tenant (nothing is billed).
    response = _scan(gateways, operator_raw, body)
    assert (response.status_code, response.json()["pii"]) == (200, {"EMAIL": 1})
    assert httpx.get(gateways.url + "/v1/pii/scan", headers=auth(raw)).status_code == 405
