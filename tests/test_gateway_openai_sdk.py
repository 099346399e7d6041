"""The official `openai` SDK, pointed at the gateway, works as against OpenAI."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import openai
import pytest

from tests.gateway_harness import (
    make_user,
)
from tests.gateway_world import gateways_fixture, openai_client

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-sdk")


@pytest.fixture
def raw_key(gateways, setup, dev_a) -> str:
    setup.route("text-embedding-3-small")
    _, raw = setup.key(dev_a)
    gateways.sync()
    return raw


def test_sync_chat_completion_embeddings_models_and_completions(gateways, raw_key):
    client = openai_client(gateways, raw_key)
    chat = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi sdk"}]
    )
    completion = chat.parse()
    assert completion.choices[0].message.content == "echo: hi sdk"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 3
    assert chat.headers["x-candela-request-id"]
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    assert len(vectors.data) == 2 and vectors.usage.prompt_tokens == 3
    models = sorted(m.id for m in client.models.list())
    assert models == ["gpt-4o-mini", "text-embedding-3-small"]
    legacy = client.completions.create(model="gpt-4o-mini", prompt="once upon", max_tokens=5)
    assert legacy.choices[0].text == "echo: once upon"


def test_sync_streaming_with_and_without_usage(gateways, raw_key):
    client = openai_client(gateways, raw_key)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream me"}], stream=True
    )
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: stream me"
    )
    assert all(c.usage is None for c in chunks)
    with_usage = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].usage.completion_tokens == 3


def test_async_client_plain_and_streaming(gateways, raw_key):
    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=gateways.url + "/v1", api_key=raw_key, max_retries=0)
        plain = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "async hi"}]
        )
        text = ""
        async for chunk in await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "async stream"}], stream=True
        ):
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        await client.close()
        return plain.choices[0].message.content, text

    assert asyncio.run(run()) == ("echo: async hi", "echo: async stream")


def test_sdk_raises_its_own_error_classes(gateways, setup, raw_key, operator, tenant_a):
    bad = openai_client(gateways, "ck-" + "z" * 43)
    with pytest.raises(openai.AuthenticationError) as auth_error:
        bad.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert auth_error.value.code == "invalid_api_key"
    broke = make_user(operator, tenant_a, "broke@acme.test", daily_budget_usd=Decimal("0"))
    _, broke_key = setup.key(broke)
    gateways.sync()
    with pytest.raises(openai.APIStatusError) as budget_error:
        openai_client(gateways, broke_key).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert budget_error.value.status_code == 402
    assert budget_error.value.code == "budget_exceeded"
    with pytest.raises(openai.PermissionDeniedError):
        openai_client(gateways, raw_key).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"X-Candela-Tenant-Id": "globex-does-not-match"},
        )


def test_sdk_surfaces_rate_limits(gateways, setup, dev_a):
    _, limited_key = setup.key(dev_a, rate_limit_rpm=1, name="limited")
    gateways.sync()
    limited = openai_client(gateways, limited_key)
    message = [{"role": "user", "content": "x"}]
    limited.chat.completions.create(model="gpt-4o-mini", messages=message)
    with pytest.raises(openai.RateLimitError) as rate_error:
        limited.chat.completions.create(model="gpt-4o-mini", messages=message)
    assert rate_error.value.code == "rate_limit_exceeded"
    assert int(rate_error.value.response.headers["retry-after"]) >= 1
