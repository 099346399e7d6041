"""The fake provider speaks the real wire formats: the official SDKs talk to it directly.

No Django needed: ``uv run pytest -p no:django --noconftest tests/test_fake_provider.py``
also works (the import fallback below covers the missing repo root on sys.path).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

try:
    from tests.fakes.provider import FakeProvider
except ModuleNotFoundError:  # tests/ on sys.path but not the repo root
    from fakes.provider import FakeProvider

REPO_ROOT = Path(__file__).resolve().parents[1]

# Recent openai/anthropic SDKs run on ``httpx2`` and let its transport errors
# (e.g. RemoteProtocolError on a cut stream) escape unwrapped.
HTTP_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError,)
if importlib.util.find_spec("httpx2") is not None:
    HTTP_ERRORS += (importlib.import_module("httpx2").HTTPError,)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
    }
]


@pytest.fixture
def fake():
    with FakeProvider() as fp:
        yield fp


@pytest.fixture
def oai(fake):
    client = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def claude(fake):
    client = anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def gemini(fake):
    return genai.Client(api_key="g-key", http_options=types.HttpOptions(base_url=fake.url))


# --------------------------------------------------------------------------- OpenAI


def test_openai_chat_non_stream(fake, oai):
    resp = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "be terse"},
            {"role": "user", "content": "hello big world"},
        ],
    )
    assert resp.object == "chat.completion"
    assert resp.model == "gpt-4o-mini"
    assert resp.choices[0].message.content == "echo: hello big world"
    assert resp.choices[0].finish_reason == "stop"
    # prompt = words of all messages (2 + 3), completion = words of the reply (4)
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (5, 4)
    assert resp.usage.total_tokens == 9
    rec = fake.last_request
    assert rec.path == "/v1/chat/completions"
    assert rec.header("authorization") == "Bearer sk-test"
    assert rec.json["messages"][1]["content"] == "hello big world"
    assert rec.provider == "openai" and rec.model == "gpt-4o-mini" and not rec.stream


def test_openai_configured_reply_and_tokens(fake, oai):
    fake.configure(reply_text="fixed answer", prompt_tokens=11, completion_tokens=7)
    resp = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "anything"}]
    )
    assert resp.choices[0].message.content == "fixed answer"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 7)


def test_openai_stream_with_usage(fake, oai):
    fake.reply_text = "one two three four five six"
    fake.prompt_tokens, fake.completion_tokens = 12, 34
    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(content) >= 3  # really split into several chunks
    assert "".join(content) == "one two three four five six"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (12, 34)
    assert last.usage.total_tokens == 46
    assert all(c.usage is None for c in chunks[:-1])
    assert fake.last_request.stream


def test_openai_stream_without_usage_has_no_usage_chunk(fake):
    with httpx.stream(
        "POST",
        f"{fake.url}/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x y"}]},
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in resp.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    payloads = [json.loads(ln[6:]) for ln in lines[:-1]]
    assert all("usage" not in p for p in payloads)
    assert all(p["object"] == "chat.completion.chunk" for p in payloads)


def test_openai_tool_call(fake, oai):
    resp = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "please CALL_TOOL now"}],
        tools=OPENAI_TOOLS,
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "test", "days": 1}

    # After the tool result, the fake answers with text (no tool loop).
    follow = oai.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "please CALL_TOOL now"},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=OPENAI_TOOLS,
    )
    assert follow.choices[0].finish_reason == "stop"


def test_openai_tool_call_streamed(fake, oai):
    fake.tool_arguments = {"city": "Paris"}
    stream = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "CALL_TOOL"}],
        tools=OPENAI_TOOLS,
        stream=True,
    )
    name, args, ids, finish = "", "", [], None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            ids += [tc.id] if tc.id else []
            name += (tc.function.name or "") if tc.function else ""
            args += (tc.function.arguments or "") if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather" and len(ids) == 1
    assert json.loads(args) == {"city": "Paris"}
    assert finish == "tool_calls"


def test_openai_completions_embeddings_models(fake, oai):
    comp = oai.completions.create(model="m", prompt="say hi")
    assert comp.object == "text_completion"
    assert comp.choices[0].text == "echo: say hi"
    assert comp.usage.prompt_tokens == 2

    text = "".join(
        c.choices[0].text for c in oai.completions.create(model="m", prompt="a b c", stream=True)
    )
    assert text == "echo: a b c"

    emb = oai.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta gamma"])
    assert [len(d.embedding) for d in emb.data] == [8, 8]
    assert emb.usage.prompt_tokens == 3
    again = oai.embeddings.create(
        model="text-embedding-3-small", input="alpha", encoding_format="float", dimensions=8
    )
    assert again.data[0].embedding == pytest.approx(emb.data[0].embedding, abs=1e-6)
    assert emb.data[0].embedding != emb.data[1].embedding

    ids = [m.id for m in oai.models.list()]
    assert "fake-model" in ids


def test_openai_async_client_and_async_context():
    async def main():
        async with FakeProvider(reply_text="async ok", completion_tokens=2) as fp:
            client = openai.AsyncOpenAI(base_url=f"{fp.url}/v1", api_key="k", max_retries=0)
            resp = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "q"}]
            )
            stream = await client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "q"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            usage = None
            async for chunk in stream:
                usage = chunk.usage or usage
            await client.close()
            await fp.await_requests(2)
            return resp, usage

    resp, usage = asyncio.run(main())
    assert resp.choices[0].message.content == "async ok"
    assert usage.completion_tokens == 2


def test_openai_error_shape_and_sdk_exceptions(fake, oai):
    fake.fail_next(1, "status_429")
    with pytest.raises(openai.RateLimitError) as exc:
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 429
    assert exc.value.body["code"] == "rate_limit_exceeded"

    fake.fail_next(1, "status_500")
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="m", messages=[])


def test_openai_api_key_enforcement(fake):
    fake.api_keys = {"sk-good"}
    good = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-good", max_retries=0)
    bad = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-bad", max_retries=0)
    msgs = [{"role": "user", "content": "x"}]
    assert good.chat.completions.create(model="m", messages=msgs).choices
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="m", messages=msgs)


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_create(fake, claude):
    msg = claude.messages.create(
        model="claude-fake",
        max_tokens=100,
        system="sys prompt",
        messages=[{"role": "user", "content": "hello claude"}],
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "echo: hello claude"
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (4, 3)
    rec = fake.last_request
    # anthropic SDK 2.x sends the key as a Bearer token; older ones as x-api-key.
    assert "sk-ant-test" in (rec.header("x-api-key"), rec.header("authorization", "")[7:])
    assert rec.header("anthropic-version")
    assert rec.provider == "anthropic"


def test_anthropic_stream(fake, claude):
    fake.configure(reply_text="streamed reply from the fake", prompt_tokens=21, completion_tokens=9)
    with claude.messages.stream(
        model="claude-fake", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 3
    assert "".join(pieces) == "streamed reply from the fake"
    assert final.content[0].text == "streamed reply from the fake"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (21, 9)


def test_anthropic_raw_event_sequence(fake):
    with httpx.stream(
        "POST",
        f"{fake.url}/v1/messages",
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        json={
            "model": "c",
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "a b"}],
        },
    ) as resp:
        body = resp.read().decode()
    events = [ln[7:] for ln in body.splitlines() if ln.startswith("event: ")]
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}
    datas = [json.loads(ln[6:]) for ln in body.splitlines() if ln.startswith("data: ")]
    delta = next(d for d in datas if d["type"] == "message_delta")
    assert delta["usage"]["output_tokens"] == 3 and delta["delta"]["stop_reason"] == "end_turn"


def test_anthropic_tool_use(fake, claude):
    tools = [{"name": "get_weather", "description": "w", "input_schema": WEATHER_SCHEMA}]
    msg = claude.messages.create(
        model="c",
        max_tokens=100,
        tools=tools,
        messages=[{"role": "user", "content": "CALL_TOOL please"}],
    )
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == {"city": "test", "days": 1}

    with claude.messages.stream(
        model="c",
        max_tokens=100,
        tools=tools,
        messages=[{"role": "user", "content": "CALL_TOOL please"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"city": "test", "days": 1}
    assert final.stop_reason == "tool_use"

    # A tool_result turn gets a text answer.
    follow = claude.messages.create(
        model="c",
        max_tokens=100,
        tools=tools,
        messages=[
            {"role": "user", "content": "CALL_TOOL please"},
            {"role": "assistant", "content": [block.model_dump()]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "ok"}],
            },
        ],
    )
    assert follow.stop_reason == "end_turn"


def test_anthropic_errors(fake, claude):
    fake.fail_next(1, "status_429")
    with pytest.raises(anthropic.RateLimitError) as exc:
        claude.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert exc.value.body["type"] == "error"
    assert exc.value.body["error"]["type"] == "rate_limit_error"

    no_key = httpx.post(
        f"{fake.url}/v1/messages",
        headers={"anthropic-version": "2023-06-01"},
        json={"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    no_version = httpx.post(
        f"{fake.url}/v1/messages",
        headers={"x-api-key": "k"},
        json={"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------------------- Gemini


def test_gemini_generate_content(fake, gemini):
    resp = gemini.models.generate_content(model="gemini-2.0-flash", contents="hello gemini")
    assert resp.text == "echo: hello gemini"
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    um = resp.usage_metadata
    assert (um.prompt_token_count, um.candidates_token_count, um.total_token_count) == (2, 3, 5)
    rec = fake.last_request
    # google-genai picks the API version (v1beta, or v1 in recent releases).
    assert rec.path.endswith("/models/gemini-2.0-flash:generateContent")
    assert rec.header("x-goog-api-key") == "g-key"
    assert rec.model == "gemini-2.0-flash" and rec.provider == "gemini"


def test_gemini_stream(fake, gemini):
    fake.configure(reply_text="gemini streams in pieces", prompt_tokens=5, completion_tokens=6)
    chunks = list(
        gemini.models.generate_content_stream(model="gemini-2.0-flash", contents="hi there")
    )
    assert len(chunks) >= 3
    assert "".join(c.text for c in chunks) == "gemini streams in pieces"
    um = chunks[-1].usage_metadata
    assert (um.prompt_token_count, um.candidates_token_count, um.total_token_count) == (5, 6, 11)
    assert fake.last_request.query.get("alt") == "sse"
    assert fake.last_request.stream


def test_gemini_function_call(fake, gemini):
    config = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather",
                        description="w",
                        parameters=types.Schema(
                            type="OBJECT", properties={"city": types.Schema(type="STRING")}
                        ),
                    )
                ]
            )
        ],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    resp = gemini.models.generate_content(
        model="gemini-2.0-flash", contents="CALL_TOOL weather", config=config
    )
    assert resp.function_calls[0].name == "get_weather"
    assert resp.function_calls[0].args == {"city": "test"}


def test_gemini_json_array_stream_key_param_and_errors(fake, gemini):
    url = f"{fake.url}/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "a b c"}]}]}
    resp = httpx.post(url, params={"key": "qk"}, json=body)
    assert resp.status_code == 200
    arr = resp.json()  # not SSE: one JSON array
    assert isinstance(arr, list) and len(arr) >= 2
    assert "".join(o["candidates"][0]["content"]["parts"][0]["text"] for o in arr) == "echo: a b c"
    assert arr[-1]["usageMetadata"]["candidatesTokenCount"] == 4
    assert fake.last_request.query["key"] == "qk"

    no_key = httpx.post(
        url.replace("stream", "generate").replace("Generate", "Generate"), json=body
    )
    assert no_key.status_code == 403
    assert no_key.json()["error"]["status"] == "PERMISSION_DENIED"

    fake.fail_next(1, "status_503")
    with pytest.raises(genai_errors.ServerError) as exc:
        gemini.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert exc.value.code == 503
    assert exc.value.status == "UNAVAILABLE"


# --------------------------------------------------------------------------- Ollama


def test_ollama_chat_stream_and_non_stream(fake):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi ollama"}]}
    with httpx.stream("POST", f"{fake.url}/api/chat", json=body) as resp:
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(ln) for ln in resp.iter_lines() if ln]
    assert len(lines) >= 3
    assert all(not ln["done"] for ln in lines[:-1])
    assert "".join(ln["message"]["content"] for ln in lines) == "echo: hi ollama"
    final = lines[-1]
    assert final["done"] and final["done_reason"] == "stop"
    assert (final["prompt_eval_count"], final["eval_count"]) == (2, 3)

    one = httpx.post(f"{fake.url}/api/chat", json={**body, "stream": False}).json()
    assert one["message"] == {"role": "assistant", "content": "echo: hi ollama"}
    assert one["done"] and one["eval_count"] == 3


def test_ollama_generate_tags_tools(fake):
    gen = httpx.post(
        f"{fake.url}/api/generate", json={"model": "llama3.2", "prompt": "x y", "stream": False}
    ).json()
    assert gen["response"] == "echo: x y" and gen["prompt_eval_count"] == 2 and gen["done"]
    with httpx.stream(
        "POST", f"{fake.url}/api/generate", json={"model": "llama3.2", "prompt": "x y"}
    ) as resp:
        parts = [json.loads(ln) for ln in resp.iter_lines() if ln]
    assert "".join(p["response"] for p in parts) == "echo: x y" and parts[-1]["done"]

    tags = httpx.get(f"{fake.url}/api/tags").json()
    assert "llama3.2:latest" in [m["name"] for m in tags["models"]]

    tool = httpx.post(
        f"{fake.url}/api/chat",
        json={
            "model": "llama3.2",
            "stream": False,
            "tools": OPENAI_TOOLS,
            "messages": [{"role": "user", "content": "CALL_TOOL"}],
        },
    ).json()
    assert tool["message"]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": {"city": "test", "days": 1},
    }

    err = httpx.post(f"{fake.url}/api/chat", json={"messages": []})
    assert err.status_code == 400 and "error" in err.json()


# --------------------------------------------------------------------------- failures


CHAT = {"model": "m", "messages": [{"role": "user", "content": "one two three four"}]}


@pytest.mark.parametrize(
    ("path", "status", "check"),
    [
        ("/v1/chat/completions", 503, lambda b: b["error"]["type"] == "server_error"),
        ("/v1/messages", 429, lambda b: b["error"]["type"] == "rate_limit_error"),
        ("/v1beta/models/g:generateContent", 500, lambda b: b["error"]["status"] == "INTERNAL"),
        ("/api/chat", 500, lambda b: isinstance(b["error"], str)),
    ],
)
def test_status_failures_use_provider_error_shape(fake, path, status, check):
    fake.fail_next(1, f"status_{status}")
    resp = httpx.post(f"{fake.url}{path}", json=CHAT)
    assert resp.status_code == status
    assert check(resp.json())
    assert fake.last_request.failure == f"status_{status}"


def test_fail_next_queue_then_recovers(fake, oai):
    fake.fail_next(2, "status_500")
    fake.fail_next(1, "status_429")
    assert fake.pending_failures == ["status_500", "status_500", "status_429"]
    codes = [httpx.post(f"{fake.url}/v1/chat/completions", json=CHAT).status_code for _ in range(4)]
    assert codes == [500, 500, 429, 200]
    assert [r.failure for r in fake.requests] == ["status_500", "status_500", "status_429", None]


def test_sticky_failure_until_cleared(fake):
    fake.set_failure("status_503")
    assert all(
        httpx.post(f"{fake.url}/api/generate", json={"model": "m", "prompt": "p"}).status_code
        == 503
        for _ in range(3)
    )
    fake.set_failure(None)
    ok = httpx.post(f"{fake.url}/api/generate", json={"model": "m", "prompt": "p", "stream": False})
    assert ok.status_code == 200


def test_sdk_retries_through_transient_failures(fake):
    fake.fail_next(2, "status_503")
    client = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="k", max_retries=2)
    resp = client.chat.completions.create(**CHAT)
    assert resp.choices[0].message.content == "echo: one two three four"
    assert fake.request_count == 3


def test_garbage_json(fake, oai):
    fake.fail_next(1, "garbage_json")
    resp = httpx.post(f"{fake.url}/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.text)

    fake.fail_next(1, "garbage_json")
    with pytest.raises((openai.APIError, ValueError)):  # JSONDecodeError is a ValueError
        oai.chat.completions.create(**CHAT)


def test_cut_stream(fake, oai, claude):
    fake.fail_next(1, "cut_stream")
    received = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{fake.url}/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        for line in r.iter_lines():
            received.append(line)
    assert any(ln.startswith("data: {") for ln in received)  # some chunks arrived first
    assert "data: [DONE]" not in received

    fake.fail_next(1, "cut_stream")
    with pytest.raises((openai.APIError, *HTTP_ERRORS)):
        for _ in oai.chat.completions.create(**CHAT, stream=True):
            pass

    fake.fail_next(1, "cut_stream")
    with (
        pytest.raises((anthropic.APIError, *HTTP_ERRORS)),
        claude.messages.stream(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        stream.get_final_message()

    # Non-streaming request: truncated body with the full Content-Length promised.
    fake.fail_next(1, "cut_stream")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{fake.url}/v1/chat/completions", json=CHAT)


def test_hang_then_reset_releases(fake):
    fake.fail_next(1, "hang")
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake.url}/v1/chat/completions", json=CHAT, timeout=0.3)
    assert time.monotonic() - start < 2
    fake.reset()
    assert fake.requests == []
    assert httpx.post(f"{fake.url}/v1/chat/completions", json=CHAT).status_code == 200


def test_hang_released_while_client_waits(fake):
    fake.set_failure("hang")

    async def main():
        async with httpx.AsyncClient(timeout=5) as client:
            task = asyncio.create_task(client.post(f"{fake.url}/api/tags"))
            await fake.await_requests(1)
            fake.clear_failures()
            with pytest.raises(httpx.TransportError):
                await task

    asyncio.run(main())


def test_connection_reset(fake, oai):
    fake.fail_next(1, "connection_reset")
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{fake.url}/v1/chat/completions", json=CHAT)
    fake.fail_next(1, "connection_reset")
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(**CHAT)


def test_unknown_failure_mode_rejected(fake):
    with pytest.raises(ValueError, match="unknown failure mode"):
        fake.fail_next(1, "explode")
    fake.fail_next(1, "status_418")  # any status_NNN is accepted
    assert httpx.get(f"{fake.url}/v1/models").status_code == 418


# --------------------------------------------------------------------------- timing, recording


def test_latency_and_chunk_delay(fake):
    fake.latency_s = 0.2
    start = time.monotonic()
    httpx.get(f"{fake.url}/v1/models")
    assert time.monotonic() - start >= 0.2

    fake.latency_s = 0.0
    fake.chunk_delay_s = 0.05
    fake.reply_text = "a b c d e f"
    start = time.monotonic()
    with httpx.stream(
        "POST", f"{fake.url}/v1/chat/completions", json={**CHAT, "stream": True}
    ) as resp:
        frames = [ln for ln in resp.iter_lines() if ln]
    # role chunk + 4 content chunks + finish chunk + [DONE] = 7 frames, 6 gaps
    assert len(frames) == 7
    assert time.monotonic() - start >= 6 * 0.05


def test_recording_and_saw(fake):
    httpx.post(
        f"{fake.url}/v1/chat/completions?trace=1",
        headers={"X-Custom": "abc"},
        json={"model": "m", "messages": [{"role": "user", "content": "visible-marker"}]},
    )
    httpx.get(f"{fake.url}/no/such/path")
    reqs = fake.requests
    assert [r.seq for r in reqs] == [1, 2]
    first = reqs[0]
    assert first.method == "POST" and first.query == {"trace": "1"}
    assert first.headers["x-custom"] == "abc"
    assert first.json["messages"][0]["content"] == "visible-marker"
    assert fake.saw("visible-marker") and fake.saw("abc")
    assert not fake.saw("sk-secret-never-sent")
    assert reqs[1].path == "/no/such/path"
    assert fake.requests_to("/v1/chat", method="post") == [first]
    fake.reset()
    assert fake.requests == [] and fake.request_count == 0


def test_max_recorded_keeps_latest(fake):
    fake.max_recorded = 2
    for _ in range(4):
        httpx.get(f"{fake.url}/api/tags")
    assert fake.request_count == 4
    assert [r.seq for r in fake.requests] == [3, 4]


def test_remote_control_endpoints(fake):
    base = fake.url
    httpx.post(f"{base}/_fake/config", json={"reply_text": "remote", "completion_tokens": 3})
    httpx.post(f"{base}/_fake/fail", json={"mode": "status_500", "n": 1})
    assert httpx.post(f"{base}/v1/chat/completions", json=CHAT).status_code == 500
    ok = httpx.post(f"{base}/v1/chat/completions", json=CHAT).json()
    assert ok["choices"][0]["message"]["content"] == "remote"
    assert ok["usage"]["completion_tokens"] == 3
    recorded = httpx.get(f"{base}/_fake/requests").json()
    assert [r["failure"] for r in recorded] == ["status_500", None]
    state = httpx.post(f"{base}/_fake/reset").json()
    assert state["request_count"] == 0 and state["settings"]["reply_text"] == "remote"
    assert httpx.post(f"{base}/_fake/config", json={"bogus": 1}).status_code == 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.provider", "--port", str(port), "--reply-text", "cli"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "CLI fake did not come up"
                time.sleep(0.1)
        assert resp.json()["choices"][0]["message"]["content"] == "cli"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
