"""Model allowlists with wildcards: refused models never reach the provider."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway_harness import (
    auth,
    chat_body,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-allowlist")


@pytest.fixture
def routes(setup):
    for name in ("gpt-4o", "claude-sonnet-4-5", "byo:llama3", "byo:mistral"):
        setup.route(name)
    return setup


def _chat(gateways, raw: str, model: str) -> httpx.Response:
    return httpx.post(
        gateways.url + "/v1/chat/completions", json=chat_body(model=model), headers=auth(raw)
    )


def test_model_outside_the_allowlist_is_403_and_never_forwarded(gateways, routes, dev_a):
    _, raw = routes.key(dev_a, allowed_models=["gpt-4o*"])
    gateways.sync()
    response = _chat(gateways, raw, "claude-sonnet-4-5")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"
    assert routes.fake.request_count == 0
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.decision, row.reason, row.model) == (
        "denied",
        "model_not_allowed",
        "claude-sonnet-4-5",
    )


def test_wildcards_allow_matching_models(gateways, routes, dev_a):
    _, raw = routes.key(dev_a, allowed_models=["gpt-4o*", "byo:*"])
    gateways.sync()
    served = {
        m: _chat(gateways, raw, m).status_code for m in ("gpt-4o", "gpt-4o-mini", "byo:llama3")
    }
    assert served == {"gpt-4o": 200, "gpt-4o-mini": 200, "byo:llama3": 200}
    assert [r.json["model"] for r in routes.fake.requests] == [
        "gpt-4o",
        "gpt-4o-mini",
        "byo:llama3",
    ]
    # A pattern is anchored: "gpt-4o*" does not allow a model that merely contains it.
    routes.route("my-gpt-4o")
    gateways.sync()
    assert _chat(gateways, raw, "my-gpt-4o").status_code == 403
    assert routes.fake.request_count == 3


def test_empty_allowlist_allows_every_routed_model(gateways, routes, dev_a):
    _, raw = routes.key(dev_a)
    gateways.sync()
    assert _chat(gateways, raw, "claude-sonnet-4-5").status_code == 200


def test_models_endpoint_lists_only_allowed_models(gateways, routes, dev_a):
    _, raw = routes.key(dev_a, allowed_models=["byo:*", "gpt-4o-mini"])
    gateways.sync()
    response = httpx.get(gateways.url + "/v1/models", headers=auth(raw))
    assert response.status_code == 200
    listing = response.json()
    assert listing["object"] == "list"
    assert sorted(m["id"] for m in listing["data"]) == ["byo:llama3", "byo:mistral", "gpt-4o-mini"]
    assert all(m["object"] == "model" and m["owned_by"] == "fake-openai" for m in listing["data"])
    assert routes.fake.request_count == 0


def test_upstream_model_name_is_substituted(gateways, setup, dev_a):
    setup.route("house-model", upstream_model="fake-model")
    _, raw = setup.key(dev_a)
    gateways.sync()
    response = _chat(gateways, raw, "house-model")
    assert response.status_code == 200
    assert setup.fake.requests[-1].json["model"] == "fake-model"


def test_refused_requests_take_no_rate_limit_slot(gateways, routes, dev_a):
    _, raw = routes.key(dev_a, allowed_models=["gpt-4o-mini"], rate_limit_rpm=2)
    gateways.sync()
    refused = [_chat(gateways, raw, "claude-sonnet-4-5").status_code for _ in range(3)]
    malformed = httpx.post(gateways.url + "/v1/chat/completions", content=b"{", headers=auth(raw))
    assert refused == [403, 403, 403] and malformed.status_code == 400
    assert [_chat(gateways, raw, "gpt-4o-mini").status_code for _ in range(3)] == [200, 200, 429]
