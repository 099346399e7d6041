"""Secrets in requests: detected by type, an advisory to rotate, the same policies as PII."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.gateway_harness import (
    PII_SAMPLES,
    auth,
    chat_body,
    events_for,
    fake_secrets,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")

ADVISORY = "rotate exposed credentials"


gateways = gateways_fixture("gw-pii-secrets")


@pytest.fixture
def values() -> dict[str, str]:
    return fake_secrets()  # fresh random values, never committed


def _prompt(values: dict[str, str]) -> str:
    return "\n".join(f"my {name.lower()} is {value} ." for name, value in values.items())


def _post(gateways, raw: str, body: dict, **headers) -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions",
        json=body,
        headers={**auth(raw), **headers},
        timeout=10,
    )


def _no_value_in(text: str, values: dict[str, str]) -> bool:
    """No value, nor any line of one (a PEM's lines appear JSON-escaped in JSON text)."""
    lines = [line for v in values.values() for line in v.splitlines() if len(line) > 12]
    return not any(line in text for line in lines)


def test_warn_names_every_secret_type_and_advises_rotation(gateways, setup, dev_a, fake, values):
    _, raw = setup.key(dev_a, pii_on_detect="warn")
    gateways.sync()
    response = _post(gateways, raw, chat_body(_prompt(values)))
    assert response.status_code == 200
    assert response.headers["x-candela-secret-detected"] == ",".join(sorted(values))
    assert response.headers["x-candela-secret-advisory"] == ADVISORY
    assert "x-candela-pii-detected" not in response.headers  # secrets only
    (sent,) = fake.requests  # mode off: forwarded as sent
    assert sent.json["messages"][0]["content"] == _prompt(values)


def test_pii_and_secrets_get_their_own_headers(gateways, setup, dev_a, values):
    _, raw = setup.key(dev_a, pii_on_detect="warn")
    gateways.sync()
    prompt = f"mail {PII_SAMPLES['EMAIL']} with key {values['API_KEY']}"
    response = _post(gateways, raw, chat_body(prompt))
    assert response.headers["x-candela-pii-detected"] == "EMAIL"
    assert response.headers["x-candela-secret-detected"] == "API_KEY"
    assert response.headers["x-candela-secret-advisory"] == ADVISORY


@pytest.mark.parametrize("policy", ["block", "require_ack"])
def test_block_and_require_ack_refuse_secrets(gateways, setup, dev_a, fake, values, policy):
    _, raw = setup.key(dev_a, pii_mode="redact", pii_on_detect=policy)
    gateways.sync()
    response = _post(gateways, raw, chat_body(_prompt(values)))
    code = "pii_blocked" if policy == "block" else "pii_acknowledgment_required"
    assert (response.status_code, response.json()["error"]["code"]) == (422, code)
    assert response.headers["x-candela-secret-detected"] == ",".join(sorted(values))
    assert response.headers["x-candela-secret-advisory"] == ADVISORY
    assert _no_value_in(response.text, values)
    assert fake.requests == []
    request_id = response.headers["x-candela-request-id"]
    wait_for_records([request_id])
    (event,) = events_for([request_id])
    assert event.data["secrets"] == dict.fromkeys(values, 1)
    assert event.data["pii"] == {}
    assert (event.decision, event.reason) == ("denied", code)

    acked = _post(gateways, raw, chat_body(_prompt(values)), **{"x-candela-pii-ack": "true"})
    if policy == "block":
        assert acked.status_code == 422  # an acknowledgment does not lift a block
        assert fake.requests == []
        return
    assert acked.status_code == 200
    assert acked.headers["x-candela-secret-advisory"] == ADVISORY
    assert acked.headers["x-candela-pii-redacted"] == str(len(values))
    (sent,) = fake.requests
    assert _no_value_in(sent.text, values)
    for name in values:
        assert f"[{name}_REDACTED]" in sent.json["messages"][0]["content"]


def test_allow_redacts_secrets_silently(gateways, setup, dev_a, fake, values):
    _, raw = setup.key(dev_a, pii_mode="redact")
    gateways.sync()
    response = _post(gateways, raw, chat_body(_prompt(values)))
    assert response.status_code == 200
    assert response.headers["x-candela-pii-redacted"] == str(len(values))
    assert "x-candela-secret-detected" not in response.headers
    assert _no_value_in(fake.requests[0].text, values)
    assert _no_value_in(response.text, values)


def test_tokenized_private_key_comes_back_intact(gateways, setup, dev_a, fake, values):
    _, raw = setup.key(dev_a, pii_mode="tokenize")
    gateways.sync()
    fake.configure(tool_arguments={"pem": "<PRIVATE_KEY_1>", "token": "<JWT_1>"})
    tool = {"type": "function", "function": {"name": "store", "parameters": {"type": "object"}}}
    prompt = f"CALL_TOOL store {values['PRIVATE_KEY']} and {values['JWT']}"
    response = _post(gateways, raw, chat_body(prompt, tools=[tool]))
    assert response.status_code == 200
    assert _no_value_in(fake.requests[0].text, values)
    (call,) = response.json()["choices"][0]["message"]["tool_calls"]
    restored = json.loads(call["function"]["arguments"])  # still valid JSON: newlines escaped
    assert restored == {"pem": values["PRIVATE_KEY"], "token": values["JWT"]}
