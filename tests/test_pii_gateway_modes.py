"""PII modes x on-detect policies through the real gateway, with a recording upstream."""

from __future__ import annotations

import json

import httpx
import pytest

from governance.services.tenants import update_tenant
from tests.gateway_harness import (
    PII_SAMPLES,
    auth,
    chat_body,
    events_for,
    spend,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")

EMAIL, SSN = PII_SAMPLES["EMAIL"], PII_SAMPLES["SSN"]
PROMPT = f"write to {EMAIL} about ssn {SSN}"
MODES = ("off", "redact", "tokenize")


gateways = gateways_fixture("gw-pii-modes")


user = user_fixture("pii@acme.test")


def _post(gateways, raw: str, body: dict, path: str = "/v1/chat/completions", **headers):
    return httpx.post(gateways.url + path, json=body, headers={**auth(raw), **headers}, timeout=10)


def _content(response: httpx.Response) -> str:
    return response.json()["choices"][0]["message"]["content"]


def _upstream_text(fake) -> str:
    (request,) = fake.requests
    return request.text


@pytest.mark.parametrize("mode", MODES)
def test_every_policy_in_each_mode(gateways, setup, user, fake, tenant_a, mode):
    # Refusals first: nothing has been spent yet, so "no charge" reads as zero.
    policies = ("block", "require_ack", "warn", "allow")
    keys = {p: setup.key(user, name=p, pii_mode=mode, pii_on_detect=p)[1] for p in policies}
    gateways.sync()
    for policy in policies:
        fake.reset()
        _check(gateways, keys[policy], fake, tenant_a, user, mode, policy)


def _check(gateways, raw, fake, tenant_a, user, mode: str, policy: str) -> None:
    """One mode x policy combination, on a request with an e-mail address and an SSN."""
    response = _post(gateways, raw, chat_body(PROMPT))
    request_id = response.headers["x-candela-request-id"]
    detected = {
        "x-candela-pii-detected": "EMAIL,SSN" if policy != "allow" else None,
        "x-candela-secret-detected": None,
    }
    assert {name: response.headers.get(name) for name in detected} == detected, policy

    if policy in ("block", "require_ack"):
        code = "pii_blocked" if policy == "block" else "pii_acknowledgment_required"
        assert (response.status_code, response.json()["error"]["code"]) == (422, code)
        assert EMAIL not in response.text and SSN not in response.text
        assert fake.requests == []  # nothing forwarded
        assert spend(tenant_a.id, user.id).user_day_nano == 0  # decided before the reserve
        wait_for_records([request_id])
        (event,) = events_for([request_id])
        assert (event.decision, event.reason) == ("denied", code)
        assert event.data["pii"] == {"EMAIL": 1, "SSN": 1}
        if policy == "block":
            return
        # The same request, acknowledged, goes through.
        response = _post(gateways, raw, chat_body(PROMPT), **{"x-candela-pii-ack": "true"})
        request_id = response.headers["x-candela-request-id"]
        assert response.headers["x-candela-pii-detected"] == "EMAIL,SSN"

    assert response.status_code == 200, (policy, response.text)
    sent = _upstream_text(fake)
    if mode == "off":
        assert EMAIL in sent and SSN in sent
        assert _content(response) == f"echo: {PROMPT}"
        assert "x-candela-pii-redacted" not in response.headers
        assert "x-candela-pii-tokenized" not in response.headers
    elif mode == "redact":
        assert EMAIL not in sent and SSN not in sent
        assert "[EMAIL_REDACTED]" in sent and "[SSN_REDACTED]" in sent
        assert _content(response) == "echo: write to [EMAIL_REDACTED] about ssn [SSN_REDACTED]"
        assert response.headers["x-candela-pii-redacted"] == "2"
    else:
        assert EMAIL not in sent and SSN not in sent
        assert "<EMAIL_1>" in sent and "<SSN_1>" in sent
        # The upstream echoed the sentinels; the client reads its own values back.
        assert _content(response) == f"echo: {PROMPT}"
        assert response.headers["x-candela-pii-tokenized"] == "2"
        assert response.headers["cache-control"] == "no-store"

    (row,) = wait_for_records([request_id])
    assert row.cost_usd > 0
    (event,) = events_for([request_id])
    if (mode, policy) == ("off", "allow"):  # not even scanned
        assert not [name for name in response.headers if "pii" in name or "secret" in name]
        assert "pii" not in event.data and "pii_mode" not in event.data
        return
    expected_action = {"allow": "allowed", "warn": "warned", "require_ack": "acknowledged"}
    assert event.data["pii"] == {"EMAIL": 1, "SSN": 1}
    assert event.data["secrets"] == {}
    assert (event.data["pii_mode"], event.data["pii_action"]) == (mode, expected_action[policy])


def test_header_beats_key_beats_tenant(gateways, setup, user, fake, operator, tenant_a):
    update_tenant(actor=operator, tenant=tenant_a, pii_mode="redact")
    _, plain_raw = setup.key(user, name="inherits")
    _, tokenize_raw = setup.key(user, name="override", pii_mode="tokenize")
    gateways.sync()

    def sent_with(raw: str, **headers) -> str:
        fake.reset()
        response = _post(gateways, raw, chat_body(PROMPT), **headers)
        assert response.status_code == 200, response.text
        return _upstream_text(fake)

    assert "[EMAIL_REDACTED]" in sent_with(plain_raw)  # the tenant's default
    assert "<EMAIL_1>" in sent_with(tokenize_raw)  # the key's override
    assert EMAIL in sent_with(tokenize_raw, **{"x-candela-pii-mode": "off"})  # the header
    assert "[EMAIL_REDACTED]" in sent_with(tokenize_raw, **{"x-candela-pii-mode": "REDACT"})
    assert "<EMAIL_1>" in sent_with(plain_raw, **{"x-candela-pii-mode": "tokenize"})

    fake.reset()
    response = _post(gateways, plain_raw, chat_body(PROMPT), **{"x-candela-pii-mode": "mask"})
    assert response.status_code == 400
    assert "x-candela-pii-mode" in response.json()["error"]["message"]
    assert fake.requests == []


def test_policy_comes_from_key_then_tenant_never_the_request(
    gateways, setup, user, fake, operator, tenant_a
):
    update_tenant(actor=operator, tenant=tenant_a, pii_on_detect="block")
    _, blocked_raw = setup.key(user, name="inherits")
    _, warned_raw = setup.key(user, name="override", pii_on_detect="warn")
    gateways.sync()
    # Neither the mode header nor an acknowledgment talks a request past "block".
    for headers in ({}, {"x-candela-pii-mode": "off", "x-candela-pii-ack": "true"}):
        response = _post(gateways, blocked_raw, chat_body(PROMPT), **headers)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "pii_blocked")
    assert fake.requests == []
    response = _post(gateways, warned_raw, chat_body(PROMPT))
    assert response.status_code == 200
    assert response.headers["x-candela-pii-detected"] == "EMAIL,SSN"
    # A clean request under "block" is served as usual.
    response = _post(gateways, blocked_raw, chat_body("nothing personal here"))
    assert response.status_code == 200
    assert "x-candela-pii-detected" not in response.headers


def test_tokenize_reuses_sentinels_and_covers_every_message(gateways, setup, user, fake):
    _, raw = setup.key(user, pii_mode="tokenize")
    gateways.sync()
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": f"the operator is {PII_SAMPLES['PHONE']}"},
            {"role": "assistant", "content": f"noted {EMAIL}"},
            {"role": "user", "content": [{"type": "text", "text": f"mail {EMAIL} twice"}]},
        ],
    }
    response = _post(gateways, raw, body)
    assert response.status_code == 200
    sent = fake.requests[0].json["messages"]
    assert sent[0]["content"] == "the operator is <PHONE_1>"
    assert sent[1]["content"] == "noted <EMAIL_1>"
    assert sent[2]["content"][0]["text"] == "mail <EMAIL_1> twice"
    assert _content(response) == f"echo: mail {EMAIL} twice"
    assert response.headers["x-candela-pii-tokenized"] == "3"


def test_tokenized_tool_call_arguments_are_restored(gateways, setup, user, fake):
    _, raw = setup.key(user, pii_mode="tokenize")
    gateways.sync()
    fake.configure(tool_arguments={"to": "<EMAIL_1>", "note": 'say "<SSN_1>"'})
    tool = {"type": "function", "function": {"name": "send", "parameters": {"type": "object"}}}
    body = chat_body(f"CALL_TOOL mail {EMAIL} with {SSN}", tools=[tool])
    response = _post(gateways, raw, body)
    assert response.status_code == 200
    (call,) = response.json()["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"to": EMAIL, "note": f'say "{SSN}"'}
    assert not fake.saw(EMAIL) and not fake.saw(SSN)


def test_completions_and_embeddings_are_scanned(gateways, setup, user, fake):
    _, raw = setup.key(user, pii_mode="tokenize")
    gateways.sync()
    response = _post(
        gateways, raw, {"model": "gpt-4o-mini", "prompt": f"hi {EMAIL}"}, "/v1/completions"
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["text"] == f"echo: hi {EMAIL}"
    assert fake.requests[-1].json["prompt"] == "hi <EMAIL_1>"
    response = _post(
        gateways, raw, {"model": "gpt-4o-mini", "input": [f"a {SSN}", "b"]}, "/v1/embeddings"
    )
    assert response.status_code == 200
    assert fake.requests[-1].json["input"] == ["a <SSN_1>", "b"]
    assert not fake.saw(EMAIL) and not fake.saw(SSN)
