"""Bring-your-own endpoints: an OpenAI-compatible server registered as a provider and
its models published as `byo:<name>`, governed like every other model (allowlists
with `byo:*`, usage and cost), reachable from every client format."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.gateway_harness import (
    auth,
    reset_fake,
    wait_for_records,
)
from tests.gateway_world import anthropic_client, gateways_fixture, openai_client, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-byo")


user = user_fixture("byo@acme.test")


@pytest.fixture
def byo(fleet, fake, fake2):
    """A team's vLLM (fake2) as `corp-vllm`; OpenAI (fake) for gpt-4o-mini."""
    reset_fake(fake2)
    vllm = fleet.provider("corp-vllm", fake2, kind="openai_compatible")
    fleet.route("byo:llama3", vllm, upstream_model="meta-llama/Llama-3.1-8B-Instruct")
    fleet.route("byo:qwen", vllm, upstream_model="Qwen/Qwen2.5-7B-Instruct")
    fleet.route("gpt-4o-mini", fleet.provider("openai", fake))
    return fleet


def test_byo_model_reaches_the_teams_endpoint(gateways, byo, user, fake, fake2):
    raw = byo.key(user, allowed_models=["byo:*"])
    gateways.sync()
    reply = openai_client(gateways, raw).chat.completions.with_raw_response.create(
        model="byo:llama3", messages=[{"role": "user", "content": "hi vllm"}]
    )
    assert reply.parse().choices[0].message.content == "echo: hi vllm"
    assert reply.headers["x-candela-provider"] == "corp-vllm"
    (upstream,) = fake2.requests_to("/v1/chat/completions")
    assert upstream.json["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert upstream.header("authorization") == "Bearer sk-upstream-corp-vllm"
    assert fake.request_count == 0
    (row,) = wait_for_records([reply.headers["x-candela-request-id"]])
    assert (row.model, row.provider, row.cost_usd > 0) == ("byo:llama3", "corp-vllm", True)


def test_byo_wildcard_allows_only_byo_models(gateways, byo, user, fake, fake2):
    raw = byo.key(user, allowed_models=["byo:*"])
    gateways.sync()
    with pytest.raises(openai.PermissionDeniedError):
        openai_client(gateways, raw).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    listed = httpx.get(gateways.url + "/v1/models", headers=auth(raw)).json()
    assert sorted(m["id"] for m in listed["data"]) == ["byo:llama3", "byo:qwen"]
    assert {m["owned_by"] for m in listed["data"]} == {"corp-vllm"}
    assert fake.request_count == 0


def test_keys_without_byo_cannot_use_byo_models(gateways, byo, user, fake2):
    raw = byo.key(user, allowed_models=["gpt-*"])
    gateways.sync()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        openai_client(gateways, raw).chat.completions.create(
            model="byo:llama3", messages=[{"role": "user", "content": "x"}]
        )
    assert refused.value.code == "model_not_allowed"
    assert fake2.request_count == 0


def test_byo_models_from_anthropic_and_gemini_clients(gateways, byo, user, fake2):
    raw = byo.key(user, allowed_models=["byo:*"])
    gateways.sync()
    claude = anthropic_client(gateways, raw)
    message = claude.messages.create(
        model="byo:qwen", max_tokens=16, messages=[{"role": "user", "content": "claude to byo"}]
    )
    assert message.content[0].text == "echo: claude to byo"
    body = {"contents": [{"role": "user", "parts": [{"text": "gemini to byo"}]}]}
    response = httpx.post(
        gateways.url + "/v1beta/models/byo:qwen:generateContent",
        json=body,
        headers={"x-goog-api-key": raw},
    )
    assert response.status_code == 200, response.text
    parts = response.json()["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "echo: gemini to byo"}]
    assert [r.json["model"] for r in fake2.requests] == ["Qwen/Qwen2.5-7B-Instruct"] * 2


def test_unknown_byo_model_is_404(gateways, byo, user, fake2):
    raw = byo.key(user, allowed_models=["byo:*"])
    gateways.sync()
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client(gateways, raw).chat.completions.create(
            model="byo:nope", messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.code == "model_not_found"
    assert fake2.request_count == 0
