"""The `openai` SDK (sync, async, streaming) through Candela to OpenAI-kind providers:
OpenAI itself and the compatible family (Mistral, DeepSeek, Groq, …), tool calls
relayed as they are, exact usage as the exact cost, the serving provider named."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from governance.counters.base import cost_nano
from tests.gateway_harness import (
    PRICE_IN,
    PRICE_OUT,
    spend,
    usd,
    wait_for_records,
    wait_until,
)
from tests.gateway_world import gateways_fixture, openai_client, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
    },
}


gateways = gateways_fixture("gw-openai-kinds")


user = user_fixture("sdk@acme.test")


@pytest.fixture
def raw_key(gateways, fleet, fake, user) -> str:
    fleet.route("gpt-4o-mini", fleet.provider("openai", fake, kind="openai"))
    fleet.route(
        "mistral-small",
        fleet.provider("mistral", fake, kind="openai_compatible"),
        upstream_model="mistral-small-latest",
    )
    fleet.route(
        "deepseek-chat", fleet.provider("deepseek", fake, kind="openai_compatible", region="apac")
    )
    raw = fleet.key(user)
    gateways.sync()
    return raw


@pytest.fixture
def client(gateways, raw_key) -> openai.OpenAI:
    return openai_client(gateways, raw_key)


@pytest.mark.parametrize(
    ("model", "provider", "upstream"),
    [
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("mistral-small", "mistral", "mistral-small-latest"),
        ("deepseek-chat", "deepseek", "deepseek-chat"),
    ],
)
def test_sync_chat_to_each_kind(client, fake, tenant_a, user, model, provider, upstream):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hello family"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello family"
    assert raw.headers["x-candela-provider"] == provider
    (sent,) = fake.requests_to("/v1/chat/completions")
    assert sent.json["model"] == upstream
    assert sent.header("authorization") == f"Bearer sk-upstream-{provider}"
    (row,) = wait_for_records([raw.headers["x-candela-request-id"]])
    exact = cost_nano(
        completion.usage.prompt_tokens, completion.usage.completion_tokens, PRICE_IN, PRICE_OUT
    )
    assert (row.provider, row.cost_usd) == (provider, usd(exact))
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == exact)


def test_streaming_relays_chunks_and_exact_usage(client, fake, tenant_a, user):
    fake.configure(reply_text="a b c d e", stream_chunks=5)
    response = client.chat.completions.with_raw_response.create(
        model="mistral-small",
        messages=[{"role": "user", "content": "stream"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(response.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a b c d e"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 5
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (1, 5)
    assert response.headers["x-candela-provider"] == "mistral"
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.prompt_tokens, row.completion_tokens, row.streamed) == (1, 5, True)
    assert wait_until(
        lambda: spend(tenant_a.id, user.id).user_day_nano == cost_nano(1, 5, PRICE_IN, PRICE_OUT)
    )


def test_tool_calls_are_relayed_plain_and_streamed(client, fake):
    fake.configure(tool_arguments={"word": "candela"})
    plain = client.chat.completions.create(
        model="deepseek-chat", tools=[TOOL], messages=[{"role": "user", "content": "CALL_TOOL x"}]
    )
    call = plain.choices[0].message.tool_calls[0]
    assert (plain.choices[0].finish_reason, call.function.name) == ("tool_calls", "lookup")
    assert json.loads(call.function.arguments) == {"word": "candela"}
    pieces = [
        c.choices[0].delta.tool_calls[0].function.arguments
        for c in client.chat.completions.create(
            model="deepseek-chat",
            tools=[TOOL],
            messages=[{"role": "user", "content": "CALL_TOOL x"}],
            stream=True,
        )
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert json.loads("".join(p or "" for p in pieces)) == {"word": "candela"}
    assert fake.requests_to("/v1/chat/completions")[-1].json["tools"] == [TOOL]


def test_async_plain_and_streaming(gateways, raw_key):
    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=gateways.url + "/v1", api_key=raw_key, max_retries=0)
        plain = await client.chat.completions.create(
            model="mistral-small", messages=[{"role": "user", "content": "async hi"}]
        )
        text = ""
        async for chunk in await client.chat.completions.create(
            model="deepseek-chat",
            messages=[{"role": "user", "content": "async stream"}],
            stream=True,
        ):
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        await client.close()
        return plain.choices[0].message.content, text

    assert asyncio.run(run()) == ("echo: async hi", "echo: async stream")


def test_provider_errors_reach_the_sdk_as_its_own_classes(client, fake):
    fake.fail_next(1, "status_400")
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert bad.value.code == "invalid_request_error"
    fake.set_failure("status_503")
    with pytest.raises(openai.APIStatusError) as down:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert (down.value.status_code, down.value.code) == (502, "upstream_error")
    fake.clear_failures()
