"""Anthropic both ways: the `anthropic` SDK on /v1/messages reaches an Anthropic
provider natively and an OpenAI provider through translation; the `openai` SDK
reaches an Anthropic provider through translation. Streaming, tool calls, system
prompts, finish reasons and exact usage (hence exact cost) survive each way."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest

from tests.gateway_harness import (
    make_user,
    wait_for_records,
)
from tests.gateway_world import (
    anthropic_client,
    assert_charged,
    gateways_fixture,
    openai_client,
    user_fixture,
)

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": WEATHER["name"],
        "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"],
    },
}


gateways = gateways_fixture("gw-anthropic")


user = user_fixture("claude@acme.test")


@pytest.fixture
def raw_key(gateways, fleet, fake, user) -> str:
    claude = fleet.provider("claude", fake, kind="anthropic")
    gpt = fleet.provider("gpt", fake, kind="openai")
    fleet.route("claude-house", claude, upstream_model="claude-sonnet-4-5")
    fleet.route("gpt-house", gpt, upstream_model="gpt-4o-mini")
    raw = fleet.key(user)
    gateways.sync()
    return raw


def test_anthropic_sdk_to_anthropic_is_native(gateways, raw_key, fake, tenant_a, user):
    raw = anthropic_client(gateways, raw_key).messages.with_raw_response.create(
        model="claude-house",
        max_tokens=64,
        system="You are terse.",
        messages=[{"role": "user", "content": "hi claude"}],
    )
    message = raw.parse()
    assert message.content[0].text == "echo: hi claude"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 3)
    assert raw.headers["x-candela-provider"] == "claude"
    (upstream,) = fake.requests_to("/v1/messages")
    assert upstream.json["model"] == "claude-sonnet-4-5"
    assert upstream.json["system"] == "You are terse."
    # Candela's key never reaches the provider: the provider's own credential does.
    assert upstream.header("x-api-key") == "sk-upstream-claude"
    assert upstream.header("anthropic-version") and not fake.saw(raw_key)
    (row,) = wait_for_records([raw.headers["x-candela-request-id"]])
    assert (row.prompt_tokens, row.completion_tokens, row.endpoint) == (5, 3, "messages")
    assert_charged(raw.headers["x-candela-request-id"], tenant_a, user)


def test_anthropic_sdk_streams_natively(gateways, raw_key, fake, tenant_a, user):
    client = anthropic_client(gateways, raw_key)
    with client.messages.stream(
        model="claude-house",
        max_tokens=64,
        messages=[{"role": "user", "content": "stream to me please"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-candela-request-id"]
    assert text == "echo: stream to me please"
    assert final.usage.output_tokens == 5
    assert fake.requests_to("/v1/messages")[-1].stream
    (row,) = wait_for_records([request_id])
    assert (row.prompt_tokens, row.completion_tokens, row.streamed) == (4, 5, True)
    assert_charged(request_id, tenant_a, user)


def test_anthropic_sdk_to_openai_provider_is_translated(gateways, raw_key, fake, tenant_a, user):
    raw = anthropic_client(gateways, raw_key).messages.with_raw_response.create(
        model="gpt-house",
        max_tokens=40,
        system="Be brief.",
        stop_sequences=["END"],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi from claude sdk"}]}],
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].text == "echo: hi from claude sdk"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 5)
    assert raw.headers["x-candela-provider"] == "gpt"
    (upstream,) = fake.requests_to("/v1/chat/completions")
    assert upstream.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi from claude sdk"},
    ]
    assert (upstream.json["model"], upstream.json["max_tokens"]) == ("gpt-4o-mini", 40)
    assert upstream.json["stop"] == ["END"]
    assert upstream.header("authorization") == "Bearer sk-upstream-gpt"
    assert_charged(raw.headers["x-candela-request-id"], tenant_a, user)


def test_anthropic_sdk_tool_calls_through_openai_provider(gateways, raw_key, fake):
    client = anthropic_client(gateways, raw_key)
    fake.configure(tool_arguments={"city": "Paris"})
    message = client.messages.create(
        model="gpt-house",
        max_tokens=64,
        tools=[WEATHER],
        tool_choice={"type": "auto"},
        messages=[{"role": "user", "content": "CALL_TOOL weather please"}],
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert (block.type, block.name, block.input) == ("tool_use", "get_weather", {"city": "Paris"})
    sent = fake.requests_to("/v1/chat/completions")[-1].json
    assert sent["tools"] == [OPENAI_WEATHER] and sent["tool_choice"] == "auto"
    # The tool's result goes back as an OpenAI tool message, paired by id.
    client.messages.create(
        model="gpt-house",
        max_tokens=64,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "CALL_TOOL weather please"},
            {"role": "assistant", "content": [block.model_dump()]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}],
            },
        ],
    )
    follow_up = fake.requests_to("/v1/chat/completions")[-1].json["messages"]
    assert follow_up[1]["tool_calls"][0]["id"] == block.id
    assert json.loads(follow_up[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert follow_up[2] == {"role": "tool", "tool_call_id": block.id, "content": "sunny"}


def test_anthropic_sdk_streams_from_openai_provider(gateways, raw_key, fake, tenant_a, user):
    client = anthropic_client(gateways, raw_key)
    fake.configure(stream_chunks=5)
    events = []
    with client.messages.stream(
        model="gpt-house", max_tokens=64, messages=[{"role": "user", "content": "count to five"}]
    ) as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-candela-request-id"]
    assert final.content[0].text == "echo: count to five"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 4)
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events.count("text") >= 3  # relayed chunk by chunk, not in one piece
    assert fake.requests_to("/v1/chat/completions")[-1].json["stream_options"] == {
        "include_usage": True
    }
    assert_charged(request_id, tenant_a, user)


def test_anthropic_sdk_streams_tool_calls_from_openai_provider(gateways, raw_key, fake):
    fake.configure(tool_arguments={"city": "Oslo"}, stream_chunks=3)
    with anthropic_client(gateways, raw_key).messages.stream(
        model="gpt-house",
        max_tokens=64,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "CALL_TOOL now"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in final.content] == [
        ("tool_use", "get_weather", {"city": "Oslo"})
    ]


def test_openai_sdk_to_anthropic_provider_is_translated(gateways, raw_key, fake, tenant_a, user):
    raw = openai_client(gateways, raw_key).chat.completions.with_raw_response.create(
        model="claude-house",
        max_tokens=30,
        temperature=1.5,
        messages=[
            {"role": "system", "content": "You are a poet."},
            {"role": "user", "content": "hi from openai sdk"},
        ],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hi from openai sdk"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (8, 5)
    (upstream,) = fake.requests_to("/v1/messages")
    assert upstream.json["system"] == "You are a poet."
    assert upstream.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi from openai sdk"}]}
    ]
    assert upstream.json["max_tokens"] == 30
    assert upstream.json["temperature"] == 1.0  # Anthropic's range ends at 1
    assert_charged(raw.headers["x-candela-request-id"], tenant_a, user)


def test_openai_sdk_tool_calls_through_anthropic_provider(gateways, raw_key, fake):
    client = openai_client(gateways, raw_key)
    fake.configure(tool_arguments={"city": "Rome"})
    completion = client.chat.completions.create(
        model="claude-house",
        tools=[OPENAI_WEATHER],
        tool_choice="required",
        messages=[{"role": "user", "content": "CALL_TOOL rome"}],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Rome"}
    sent = fake.requests_to("/v1/messages")[-1].json
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == {"type": "any"}
    client.chat.completions.create(
        model="claude-house",
        tools=[OPENAI_WEATHER],
        messages=[
            {"role": "user", "content": "CALL_TOOL rome"},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "rainy"},
        ],
    )
    turns = fake.requests_to("/v1/messages")[-1].json["messages"]
    assert turns[1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Rome"}}
        ],
    }
    assert turns[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rainy"}],
    }


def test_openai_sdk_streams_from_anthropic_provider(gateways, raw_key, fake, tenant_a, user):
    client = openai_client(gateways, raw_key)
    chunks = list(
        client.chat.completions.create(
            model="claude-house",
            messages=[{"role": "user", "content": "stream from claude"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream from claude"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 3 and chunks[-1].usage.completion_tokens == 4
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3
    assert fake.requests_to("/v1/messages")[-1].stream


def test_async_clients_both_ways(gateways, raw_key):
    async def run() -> tuple[str, str, str]:
        claude = anthropic.AsyncAnthropic(base_url=gateways.url, api_key=raw_key, max_retries=0)
        gpt = openai.AsyncOpenAI(base_url=gateways.url + "/v1", api_key=raw_key, max_retries=0)
        native = await claude.messages.create(
            model="claude-house", max_tokens=16, messages=[{"role": "user", "content": "a1"}]
        )
        streamed = ""
        async with claude.messages.stream(
            model="gpt-house", max_tokens=16, messages=[{"role": "user", "content": "a2"}]
        ) as stream:
            async for piece in stream.text_stream:
                streamed += piece
        reply = await gpt.chat.completions.create(
            model="claude-house", messages=[{"role": "user", "content": "a3"}]
        )
        await claude.close()
        await gpt.close()
        return native.content[0].text, streamed, reply.choices[0].message.content

    assert asyncio.run(run()) == ("echo: a1", "echo: a2", "echo: a3")


def test_errors_keep_anthropics_shape(gateways, raw_key, fleet, operator, tenant_a):
    with pytest.raises(anthropic.AuthenticationError) as bad_key:
        anthropic_client(gateways, "ck-" + "z" * 43).messages.create(
            model="claude-house", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert bad_key.value.body["error"]["type"] == "authentication_error"
    assert bad_key.value.body["error"]["code"] == "invalid_api_key"
    limited = make_user(operator, tenant_a, "narrow@acme.test")
    narrow = fleet.key(limited, allowed_models=["gpt-*"])
    gateways.sync()
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        anthropic_client(gateways, narrow).messages.create(
            model="claude-house", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert refused.value.body["type"] == "error"
    assert refused.value.body["error"]["code"] == "model_not_allowed"
    with pytest.raises(anthropic.BadRequestError) as invalid:
        anthropic_client(gateways, raw_key).messages.create(
            model="claude-house", max_tokens=8, messages=[]
        )
    assert invalid.value.body["error"]["type"] == "invalid_request_error"
