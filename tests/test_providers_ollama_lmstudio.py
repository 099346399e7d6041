"""Ollama through its native API (/api/chat, /api/generate, /api/embed; NDJSON
streams translated to SSE) and LM Studio through its OpenAI-compatible one, with
exact usage from each (hence exact cost in the ledger)."""

from __future__ import annotations

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
from tests.gateway_world import anthropic_client, gateways_fixture, openai_client, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-local")


user = user_fixture("local@acme.test")


@pytest.fixture
def raw_key(gateways, fleet, fake, user) -> str:
    ollama = fleet.provider("ollama", fake, kind="ollama")
    studio = fleet.provider("lmstudio", fake, kind="lmstudio")
    fleet.route("llama", ollama, upstream_model="llama3.2")
    fleet.route("nomic", ollama, upstream_model="nomic-embed-text")
    fleet.route("qwen", studio, upstream_model="qwen2.5-7b-instruct")
    raw = fleet.key(user)
    gateways.sync()
    return raw


@pytest.fixture
def client(gateways, raw_key) -> openai.OpenAI:
    return openai_client(gateways, raw_key)


def _charged(request_id: str, tenant, user, tokens: tuple[int, int]) -> None:
    (row,) = wait_for_records([request_id])
    assert (row.prompt_tokens, row.completion_tokens) == tokens
    exact = cost_nano(*tokens, PRICE_IN, PRICE_OUT)
    assert row.cost_usd == usd(exact)
    assert wait_until(lambda: spend(tenant.id, user.id).user_day_nano == exact)


def test_chat_through_ollamas_native_api(client, fake, tenant_a, user):
    raw = client.chat.completions.with_raw_response.create(
        model="llama",
        max_tokens=32,
        temperature=0.2,
        messages=[
            {"role": "system", "content": "Short answers."},
            {"role": "user", "content": "hello llama"},
        ],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello llama"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (4, 3)
    assert raw.headers["x-candela-provider"] == "ollama"
    (upstream,) = fake.requests_to("/api/chat")
    assert upstream.json["model"] == "llama3.2" and upstream.json["stream"] is False
    assert upstream.json["options"] == {"temperature": 0.2, "num_predict": 32}
    assert upstream.json["messages"][0] == {"role": "system", "content": "Short answers."}
    _charged(raw.headers["x-candela-request-id"], tenant_a, user, (4, 3))


def test_ndjson_stream_becomes_sse_chunk_by_chunk(client, fake, tenant_a, user):
    fake.configure(reply_text="alpha beta gamma delta", stream_chunks=4)
    response = client.chat.completions.with_raw_response.create(
        model="llama",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(response.parse())
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == "alpha beta gamma delta" and len(texts) == 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 4)
    assert fake.requests_to("/api/chat")[-1].json["stream"] is True
    _charged(response.headers["x-candela-request-id"], tenant_a, user, (2, 4))


def test_tool_calls_through_ollama(client, fake):
    fake.configure(tool_arguments={"city": "Lyon"})
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    completion = client.chat.completions.create(
        model="llama", tools=[tool], messages=[{"role": "user", "content": "CALL_TOOL lyon"}]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Lyon"}
    assert fake.requests_to("/api/chat")[-1].json["tools"] == [tool]


def test_completions_use_generate_and_embeddings_use_embed(client, fake, tenant_a, user):
    legacy = client.completions.create(model="llama", prompt="once upon a time", max_tokens=9)
    assert legacy.choices[0].text == "echo: once upon a time"
    assert (legacy.usage.prompt_tokens, legacy.usage.completion_tokens) == (4, 5)
    generated = fake.requests_to("/api/generate")[-1].json
    assert generated["prompt"] == "once upon a time" and generated["options"]["num_predict"] == 9
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="llama", prompt="stream it", stream=True)
        if c.choices
    )
    assert streamed == "echo: stream it"
    vectors = client.embeddings.create(model="nomic", input=["a b", "c"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 8
    assert vectors.usage.prompt_tokens == 3
    assert fake.requests_to("/api/embed")[-1].json == {
        "model": "nomic-embed-text",
        "input": ["a b", "c"],
    }


def test_anthropic_sdk_reaches_ollama(gateways, raw_key, fake):
    claude = anthropic_client(gateways, raw_key)
    message = claude.messages.create(
        model="llama", max_tokens=16, messages=[{"role": "user", "content": "from claude"}]
    )
    assert message.content[0].text == "echo: from claude"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (2, 3)
    with claude.messages.stream(
        model="llama", max_tokens=16, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        assert "".join(stream.text_stream) == "echo: stream it"
        assert stream.get_final_message().usage.output_tokens == 3


def test_lm_studio_speaks_openai_on_its_v1_base(client, fake, tenant_a, user):
    raw = client.chat.completions.with_raw_response.create(
        model="qwen", messages=[{"role": "user", "content": "hello studio"}]
    )
    assert raw.parse().choices[0].message.content == "echo: hello studio"
    assert raw.headers["x-candela-provider"] == "lmstudio"
    (upstream,) = fake.requests_to("/v1/chat/completions")
    assert upstream.json["model"] == "qwen2.5-7b-instruct"
    _charged(raw.headers["x-candela-request-id"], tenant_a, user, (2, 3))
    chunks = list(
        client.chat.completions.create(
            model="qwen", messages=[{"role": "user", "content": "streamed studio"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "echo: streamed studio"
    )
