"""Gateway authentication: only live, well-formed, known keys are served."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from governance.services.keys import revoke_key, update_key
from governance.services.users import update_user
from tests.gateway_harness import (
    auth,
    chat_body,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-auth", count=2, CANDELA_POLICY_REFRESH_SECONDS=None)


def _chat(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=chat_body(), headers=headers, timeout=10)


def _assert_invalid_key(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["request_id"] == response.headers["x-candela-request-id"]


def test_valid_key_is_served_by_bearer_and_x_api_key(gateways, setup, dev_a):
    _, raw = setup.key(dev_a)
    gateways.sync()
    by_bearer = _chat(gateways.url, auth(raw))
    by_x_api_key = _chat(gateways[1].url, {"x-api-key": raw})
    assert by_bearer.status_code == 200, by_bearer.text
    assert by_x_api_key.status_code == 200, by_x_api_key.text
    assert by_bearer.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert by_bearer.headers["x-candela-provider"] == "fake-openai"
    # The upstream got the provider's credential, never the client's key.
    sent = setup.fake.requests[-1]
    assert sent.header("authorization") == "Bearer sk-upstream-secret"
    assert not setup.fake.saw(raw)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer ck-short"},
        {"Authorization": "Basic Y2stYWJj"},
        {"Authorization": "Bearer ck-" + "A" * 43},  # well-formed, unknown
        {"x-api-key": "sk-not-ours"},
    ],
)
def test_missing_malformed_or_unknown_key_is_401(gateways, setup, headers):
    gateways.sync()
    response = _chat(gateways.url, headers)
    _assert_invalid_key(response)
    assert setup.fake.request_count == 0
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.decision, row.reason, row.status_code) == ("denied", "invalid_api_key", 401)


def test_expired_key_is_401(gateways, setup, dev_a):
    _, raw = setup.key(dev_a, expires_at=timezone.now() + timedelta(seconds=1.5))
    gateways.sync()
    assert _chat(gateways.url, auth(raw)).status_code == 200
    time.sleep(1.6)
    _assert_invalid_key(_chat(gateways.url, auth(raw)))
    assert setup.fake.request_count == 1


def test_key_of_deactivated_user_is_401(gateways, setup, operator, dev_a):
    _, raw = setup.key(dev_a)
    update_user(actor=operator, user=dev_a, is_active=False)
    gateways.sync()
    _assert_invalid_key(_chat(gateways.url, auth(raw)))


def test_revocation_reaches_every_gateway_within_a_second(
    gateways, setup, operator, dev_a, redis_client
):
    key, raw = setup.key(dev_a)
    gateways.sync()
    for gateway in gateways:
        assert _chat(gateway.url, auth(raw)).status_code == 200
    revoke_key(actor=operator, key=key)
    revoked_at = time.monotonic()
    pending = list(gateways)
    while pending:
        pending = [g for g in pending if _chat(g.url, auth(raw)).status_code != 401]
        assert time.monotonic() - revoked_at <= 1.0, "a gateway still served a revoked key"
        time.sleep(0.02)
    response = _chat(gateways.url, auth(raw))
    _assert_invalid_key(response)
    assert "revoked" in response.json()["error"]["message"]


def test_allowlist_change_reaches_gateways(gateways, setup, operator, dev_a):
    key, raw = setup.key(dev_a, allowed_models=["gpt-4o-mini"])
    gateways.sync()
    assert _chat(gateways.url, auth(raw)).status_code == 200
    update_key(actor=operator, key=key, allowed_models=["claude-*"])
    gateways.sync()
    response = _chat(gateways.url, auth(raw))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"
