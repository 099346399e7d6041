"""Gemini both ways: the `google-genai` SDK on Candela's Gemini paths reaches a Gemini
provider natively and an OpenAI provider through translation; the `openai` and
`anthropic` SDKs reach a Gemini provider through translation. Streaming, function
calls, system instructions and exact usage survive each way."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from governance.models import UsageRecord
from tests.gateway_harness import (
    make_user,
    wait_for_records,
    wait_until,
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

NO_AUTO = types.AutomaticFunctionCallingConfig(disable=True)
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather in a city",
            parameters=types.Schema(
                type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]
            ),
        )
    ]
)
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


gateways = gateways_fixture("gw-gemini")


user = user_fixture("gem@acme.test")


@pytest.fixture
def raw_key(gateways, fleet, fake, user) -> str:
    gem = fleet.provider("gem", fake, kind="gemini")
    gpt = fleet.provider("gpt", fake, kind="openai")
    fleet.route("gem-house", gem, upstream_model="gemini-2.0-flash")
    fleet.route("gpt-house", gpt, upstream_model="gpt-4o-mini")
    raw = fleet.key(user)
    gateways.sync()
    return raw


@pytest.fixture
def make_genai(gateways):
    """`make_genai(raw_key, version=None)`: a google-genai client on the gateway. The
    clients are kept for the test's length: a dropped Client closes its connections."""
    clients: list[genai.Client] = []

    def make(raw: str, version: str | None = None) -> genai.Client:
        options = types.HttpOptions(base_url=gateways.url, api_version=version)
        clients.append(genai.Client(api_key=raw, http_options=options))
        return clients[-1]

    return make


def _last_request_id(tenant) -> str:
    row = wait_until(
        lambda: UsageRecord.objects.filter(tenant_id=tenant.id).order_by("-id").first()
    )
    return row.request_id


def test_genai_to_gemini_is_native(make_genai, gateways, raw_key, fake, tenant_a, user):
    response = make_genai(raw_key).models.generate_content(
        model="gem-house",
        contents="hello gemini",
        config=types.GenerateContentConfig(system_instruction="Be nice.", max_output_tokens=50),
    )
    assert response.text == "echo: hello gemini"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count) == (4, 3)
    (upstream,) = fake.requests_to("/v1beta/models/gemini-2.0-flash:generateContent")
    assert upstream.header("x-goog-api-key") == "sk-upstream-gem" and not fake.saw(raw_key)
    assert upstream.json["systemInstruction"]["parts"][0]["text"] == "Be nice."
    assert upstream.json["generationConfig"]["maxOutputTokens"] == 50
    request_id = _last_request_id(tenant_a)
    (row,) = wait_for_records([request_id])
    assert (row.provider, row.endpoint, row.prompt_tokens) == ("gem", "gemini.generateContent", 4)
    assert_charged(request_id, tenant_a, user)


def test_genai_streams_natively(make_genai, gateways, raw_key, fake, tenant_a, user):
    fake.configure(reply_text="gemini streams in pieces")
    chunks = list(
        make_genai(raw_key).models.generate_content_stream(model="gem-house", contents="hi there")
    )
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == "gemini streams in pieces"
    assert chunks[-1].usage_metadata.candidates_token_count == 4
    upstream = fake.requests[-1]
    assert upstream.path.endswith(":streamGenerateContent") and upstream.query["alt"] == "sse"
    assert_charged(_last_request_id(tenant_a), tenant_a, user)


def test_genai_on_v1_paths_and_key_in_query(make_genai, gateways, raw_key, fake):
    response = make_genai(raw_key, version="v1").models.generate_content(
        model="gem-house", contents="on v1"
    )
    assert response.text == "echo: on v1"
    body = {"contents": [{"role": "user", "parts": [{"text": "a b c"}]}]}
    plain = httpx.post(
        gateways.url + "/v1beta/models/gem-house:streamGenerateContent",
        params={"key": raw_key},
        json=body,
    )
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("application/json")
    array = plain.json()  # no alt=sse: one streamed JSON array, as Gemini sends it
    assert (
        "".join(o["candidates"][0]["content"]["parts"][0]["text"] for o in array) == "echo: a b c"
    )


def test_genai_to_openai_provider_is_translated(
    make_genai, gateways, raw_key, fake, tenant_a, user
):
    response = make_genai(raw_key).models.generate_content(
        model="gpt-house",
        contents="hi from genai",
        config=types.GenerateContentConfig(
            system_instruction="Be brief.", max_output_tokens=40, stop_sequences=["END"]
        ),
    )
    assert response.text == "echo: hi from genai"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count) == (5, 4)
    (upstream,) = fake.requests_to("/v1/chat/completions")
    assert upstream.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi from genai"},
    ]
    assert (upstream.json["model"], upstream.json["max_tokens"]) == ("gpt-4o-mini", 40)
    assert upstream.json["stop"] == ["END"]
    assert_charged(_last_request_id(tenant_a), tenant_a, user)


def test_genai_function_calls_through_openai_provider(make_genai, gateways, raw_key, fake):
    fake.configure(tool_arguments={"city": "Lima"})
    client = make_genai(raw_key)
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=NO_AUTO)
    response = client.models.generate_content(
        model="gpt-house", contents="CALL_TOOL lima", config=config
    )
    (call,) = response.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Lima"})
    sent = fake.requests_to("/v1/chat/completions")[-1].json
    assert sent["tools"] == [OPENAI_WEATHER]
    # The function's response goes back as a tool message paired with its call.
    client.models.generate_content(
        model="gpt-house",
        contents=[
            types.Content(role="user", parts=[types.Part(text="CALL_TOOL lima")]),
            response.candidates[0].content,
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(name="get_weather", response={"sky": "clear"})
                ],
            ),
        ],
        config=config,
    )
    messages = fake.requests_to("/v1/chat/completions")[-1].json["messages"]
    call_id = messages[1]["tool_calls"][0]["id"]
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Lima"}
    assert messages[2]["role"] == "tool" and messages[2]["tool_call_id"] == call_id
    assert json.loads(messages[2]["content"]) == {"sky": "clear"}


def test_genai_streams_from_openai_provider(make_genai, gateways, raw_key, fake, tenant_a, user):
    fake.configure(reply_text="one two three four", stream_chunks=4)
    chunks = list(
        make_genai(raw_key).models.generate_content_stream(model="gpt-house", contents="count")
    )
    assert "".join(c.text or "" for c in chunks) == "one two three four"
    assert len([c for c in chunks if c.text]) >= 3  # chunk by chunk
    final = chunks[-1]
    assert final.candidates[0].finish_reason == types.FinishReason.STOP
    assert (
        final.usage_metadata.prompt_token_count,
        final.usage_metadata.candidates_token_count,
    ) == (1, 4)
    assert_charged(_last_request_id(tenant_a), tenant_a, user)


def test_openai_sdk_to_gemini_provider_is_translated(gateways, raw_key, fake, tenant_a, user):
    client = openai_client(gateways, raw_key)
    raw = client.chat.completions.with_raw_response.create(
        model="gem-house",
        max_tokens=20,
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "hello from openai"},
        ],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello from openai"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 4)
    (upstream,) = fake.requests_to("/v1beta/models/gemini-2.0-flash:generateContent")
    assert upstream.json["systemInstruction"] == {"parts": [{"text": "Answer in French."}]}
    assert upstream.json["contents"] == [{"role": "user", "parts": [{"text": "hello from openai"}]}]
    assert upstream.json["generationConfig"]["maxOutputTokens"] == 20
    assert_charged(raw.headers["x-candela-request-id"], tenant_a, user)


def test_openai_sdk_tool_calls_and_stream_from_gemini(gateways, raw_key, fake):
    client = openai_client(gateways, raw_key)
    fake.configure(tool_arguments={"city": "Kyiv"})
    completion = client.chat.completions.create(
        model="gem-house",
        tools=[OPENAI_WEATHER],
        messages=[{"role": "user", "content": "CALL_TOOL kyiv"}],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Kyiv"}
    declared = fake.requests[-1].json["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "get_weather"
    fake.configure(reply_text="streamed from gemini", stream_chunks=3)
    chunks = list(
        client.chat.completions.create(
            model="gem-house", messages=[{"role": "user", "content": "go"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "streamed from gemini"
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_anthropic_sdk_to_gemini_provider(gateways, raw_key, fake):
    client = anthropic_client(gateways, raw_key)
    message = client.messages.create(
        model="gem-house", max_tokens=16, messages=[{"role": "user", "content": "claude to gemini"}]
    )
    assert message.content[0].text == "echo: claude to gemini"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (3, 4)
    with client.messages.stream(
        model="gem-house", max_tokens=16, messages=[{"role": "user", "content": "and streaming"}]
    ) as stream:
        assert "".join(stream.text_stream) == "echo: and streaming"


def test_async_genai(make_genai, raw_key):
    async def run() -> tuple[str, str]:
        client = make_genai(raw_key)
        plain = await client.aio.models.generate_content(model="gem-house", contents="async one")
        text = ""
        async for chunk in await client.aio.models.generate_content_stream(
            model="gpt-house", contents="async two"
        ):
            text += chunk.text or ""
        return plain.text, text

    assert asyncio.run(run()) == ("echo: async one", "echo: async two")


def test_errors_keep_googles_shape(make_genai, gateways, raw_key, fleet, operator, tenant_a):
    with pytest.raises(genai_errors.ClientError) as bad_key:
        make_genai("ck-" + "z" * 43).models.generate_content(model="gem-house", contents="x")
    assert bad_key.value.code == 401 and bad_key.value.status == "UNAUTHENTICATED"
    limited = make_user(operator, tenant_a, "narrow@acme.test")
    narrow = fleet.key(limited, allowed_models=["gpt-*"])
    gateways.sync()
    with pytest.raises(genai_errors.ClientError) as refused:
        make_genai(narrow).models.generate_content(model="gem-house", contents="x")
    assert refused.value.code == 403 and refused.value.status == "PERMISSION_DENIED"
    assert refused.value.details["error"]["details"][0]["reason"] == "model_not_allowed"
    with pytest.raises(genai_errors.ClientError) as unknown:
        make_genai(raw_key).models.generate_content(model="no-such-model", contents="x")
    assert unknown.value.code == 404
