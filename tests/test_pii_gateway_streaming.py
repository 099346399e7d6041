"""Tokenize mode, streamed: sentinels split across SSE events are restored end to end."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from gateway.pii import tokenize_body
from gateway.pii_restore import ReplyRestore
from tests.gateway_harness import (
    PII_SAMPLES,
    auth,
    chat_body,
    fake_private_key,
    make_user,
    sse_events,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
through_gateway = pytest.mark.usefixtures("gw_db", "gateway_defaults")

EMAIL, SSN, PHONE = PII_SAMPLES["EMAIL"], PII_SAMPLES["SSN"], PII_SAMPLES["PHONE"]
PROMPT = f"mail {EMAIL}, ssn {SSN}, call {PHONE}"


def _fragments(pieces: list[str]) -> list[str]:
    """Pieces holding any part of a sentinel (the restored texts have no '<' or '>')."""
    return [p for p in pieces if "<" in p or ">" in p]


gateways = gateways_fixture("gw-pii-stream")


@pytest.fixture
def raw_key(gateways, setup, operator, tenant_a) -> str:
    user = make_user(operator, tenant_a, "stream@acme.test", daily_budget_usd=Decimal("1"))
    _, raw = setup.key(user, pii_mode="tokenize")
    gateways.sync()
    return raw


def _stream(gateways, raw: str, body: dict) -> tuple[httpx.Response, list]:
    with httpx.stream(
        "POST", gateways.url + "/v1/chat/completions", json=body, headers=auth(raw), timeout=10
    ) as response:
        return response, sse_events(response)


def _pieces(events: list) -> list[str]:
    return [
        choice["delta"].get("content") or ""
        for e in events
        if isinstance(e, dict)
        for choice in e.get("choices", [])
    ]


@through_gateway
@pytest.mark.parametrize("piece_chars", [1, 2, 3, 5, 7])
def test_sentinels_split_across_events_are_restored(gateways, raw_key, fake, piece_chars):
    reply = "echo: mail <EMAIL_1>, ssn <SSN_1>, call <PHONE_1>"  # what the upstream streams
    fake.configure(stream_chunks=-(-len(reply) // piece_chars))
    response, events = _stream(gateways, raw_key, chat_body(PROMPT, stream=True))
    assert response.status_code == 200
    assert response.headers["x-candela-pii-tokenized"] == "3"
    assert response.headers["cache-control"] == "no-store"
    # The upstream saw only sentinels and streamed them in pieces of `piece_chars`.
    sent = fake.requests[-1].json["messages"][-1]["content"]
    assert sent == "mail <EMAIL_1>, ssn <SSN_1>, call <PHONE_1>"
    assert not fake.saw(EMAIL) and not fake.saw(SSN) and not fake.saw(PHONE)
    pieces = _pieces(events)
    assert len(pieces) > len(reply) // piece_chars  # one event per piece (plus role/finish)
    assert "".join(pieces) == f"echo: {PROMPT}"
    # No event carried any part of a sentinel: each one went out whole, restored.
    assert _fragments(pieces) == []
    assert events[-1] == "[DONE]"
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.streamed, row.completion_tokens) == (True, len(reply.split()))  # its usage


@through_gateway
def test_streamed_tool_call_arguments_stay_valid_json(gateways, raw_key, fake):
    pem = fake_private_key()  # newlines: restored escaped inside the JSON text
    fake.configure(tool_arguments={"to": "<EMAIL_1>", "key": "<PRIVATE_KEY_1>"}, stream_chunks=40)
    tool = {"type": "function", "function": {"name": "send", "parameters": {"type": "object"}}}
    body = chat_body(f"CALL_TOOL send {EMAIL} this:\n{pem}", tools=[tool], stream=True)
    response, events = _stream(gateways, raw_key, body)
    assert response.status_code == 200
    assert not fake.saw(EMAIL) and not fake.saw(pem.splitlines()[1])
    arguments = [
        call["function"].get("arguments") or ""
        for e in events
        if isinstance(e, dict)
        for choice in e["choices"]
        for call in choice["delta"].get("tool_calls") or ()
    ]
    assert len(arguments) > 10
    assert json.loads("".join(arguments)) == {"to": EMAIL, "key": pem}


@through_gateway
def test_streamed_completions_are_restored(gateways, raw_key, fake):
    fake.configure(stream_chunks=30)
    body = {"model": "gpt-4o-mini", "prompt": f"hi {EMAIL} and {SSN}", "stream": True}
    with httpx.stream(
        "POST", gateways.url + "/v1/completions", json=body, headers=auth(raw_key), timeout=10
    ) as response:
        events = sse_events(response)
    texts = [c["text"] for e in events if isinstance(e, dict) for c in e["choices"]]
    assert "".join(texts) == f"echo: hi {EMAIL} and {SSN}"
    assert _fragments(texts) == []


@through_gateway
def test_anthropic_and_gemini_clients_get_their_values_back(gateways, raw_key, fake):
    """Through the translating endpoints, to the OpenAI-format upstream and back."""
    fake.configure(stream_chunks=60)
    expected = f"echo: {PROMPT}"
    anthropic = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": [
        {"role": "user", "content": [{"type": "text", "text": PROMPT}]}]}  # fmt: skip
    url = gateways.url + "/v1/messages"
    headers = {"x-api-key": raw_key}
    whole = httpx.post(url, json=anthropic, headers=headers, timeout=10)
    assert whole.status_code == 200, whole.text
    assert whole.json()["content"][0]["text"] == expected
    with httpx.stream(
        "POST", url, json={**anthropic, "stream": True}, headers=headers, timeout=10
    ) as response:
        events = sse_events(response)
    texts = [e["delta"]["text"] for e in events if e.get("type") == "content_block_delta"]
    assert len(texts) > 10 and "".join(texts) == expected
    assert _fragments(texts) == []

    gemini = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    base = gateways.url + "/v1beta/models/gpt-4o-mini:"
    headers = {"x-goog-api-key": raw_key}
    whole = httpx.post(base + "generateContent", json=gemini, headers=headers, timeout=10)
    assert whole.status_code == 200, whole.text
    assert whole.json()["candidates"][0]["content"]["parts"][0]["text"] == expected
    for query in ("?alt=sse", ""):
        answer = httpx.post(base + "streamGenerateContent" + query, json=gemini, headers=headers)
        assert answer.status_code == 200, answer.text
        if query:
            chunks = [
                json.loads(line[6:]) for line in answer.text.splitlines() if line[:6] == "data: "
            ]
        else:
            chunks = answer.json()  # one JSON array
        texts = [
            part.get("text", "")
            for chunk in chunks
            for part in chunk["candidates"][0]["content"]["parts"]
        ]
        assert "".join(texts) == expected, query
        assert _fragments(texts) == []
    assert not fake.saw(EMAIL) and not fake.saw(SSN) and not fake.saw(PHONE)


# --- the Anthropic and Gemini client formats (their endpoints arrive with translation) ---


class _Passthrough:
    """A stream decoder that hands on what it gets (the client events, as a translator
    would produce them)."""

    usage = None
    output_bytes = 0
    complete = True

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b""

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        return b""


def _event(obj: dict, name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + json.dumps(obj).encode() + b"\n\n"


def _restore_stream(fmt: str, events: list[bytes]) -> list[dict]:
    _, _, vault = tokenize_body({"messages": [{"role": "user", "content": PROMPT}]}, "openai")
    stream = ReplyRestore(vault, fmt).wrap(_Passthrough())
    wire = b"".join(stream.feed(e) for e in events) + stream.finish()
    assert b"<" not in wire and b">" not in wire  # no sentinel piece went out
    return [json.loads(line[6:]) for line in wire.split(b"\n") if line.startswith(b"data: ")]


def test_anthropic_client_stream_is_restored():
    text = "echo: mail <EMAIL_1>, ssn <SSN_1>"
    arguments = '{"to": "<EMAIL_1>", "call": "<PHONE_1>"}'
    events = [
        _event({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
               "content_block_start"),
        *(
            _event({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": c}}, "content_block_delta")
            for c in text
        ),
        _event({"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "t", "name": "f", "input": {"ssn": "<SSN_1>"}}}),
        *(
            _event({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": c}})
            for c in arguments
        ),
    ]  # fmt: skip
    out = _restore_stream("anthropic", events)
    texts = [e["delta"].get("text", "") for e in out if e["type"] == "content_block_delta"]
    assert "".join(texts) == f"echo: mail {EMAIL}, ssn {SSN}"
    assert out[len(text) + 1]["content_block"]["input"] == {"ssn": SSN}
    partial = [
        e["delta"].get("partial_json", "") for e in out if "partial_json" in e.get("delta", {})
    ]
    assert json.loads("".join(partial)) == {"to": EMAIL, "call": PHONE}


def test_gemini_client_stream_is_restored():
    text = "echo: mail <EMAIL_1>, ssn <SSN_1>"

    def chunk(part: dict) -> bytes:
        return _event({"candidates": [{"index": 0, "content": {"role": "model", "parts": [part]}}]})

    events = [chunk({"text": c}) for c in text]
    events.append(chunk({"functionCall": {"name": "f", "args": {"to": "<EMAIL_1>"}}}))
    out = _restore_stream("gemini", events)
    parts = [p for e in out for p in e["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == f"echo: mail {EMAIL}, ssn {SSN}"
    assert parts[-1]["functionCall"]["args"] == {"to": EMAIL}


def test_whole_anthropic_and_gemini_replies_are_restored():
    _, _, vault = tokenize_body({"messages": [{"role": "user", "content": PROMPT}]}, "openai")
    anthropic = {
        "content": [
            {"type": "text", "text": "mail <EMAIL_1>"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"ssn": ["<SSN_1>"]}},
        ]
    }
    restored = json.loads(ReplyRestore(vault, "anthropic").reply(json.dumps(anthropic).encode()))
    assert restored["content"][0]["text"] == f"mail {EMAIL}"
    assert restored["content"][1]["input"] == {"ssn": [SSN]}
    gemini = {"candidates": [{"content": {"parts": [{"text": "call <PHONE_1>"}]}}]}
    restored = json.loads(ReplyRestore(vault, "gemini").reply(json.dumps(gemini).encode()))
    assert restored["candidates"][0]["content"]["parts"][0]["text"] == f"call {PHONE}"
    escaped = b'{"content": [{"type": "text", "text": "to \\u003cEMAIL_1\\u003e"}]}'
    restored = json.loads(ReplyRestore(vault, "anthropic").reply(escaped))
    assert restored["content"][0]["text"] == f"to {EMAIL}"
    untouched = json.dumps({"content": [{"type": "text", "text": "no sentinel <B_9>"}]}).encode()
    assert ReplyRestore(vault, "anthropic").reply(untouched) == untouched


def test_gemini_json_array_stream_is_restored():
    """Without `?alt=sse` Gemini streams one JSON array: `[{…},\\r\\n{…}]`."""
    _, _, vault = tokenize_body({"messages": [{"role": "user", "content": PROMPT}]}, "openai")
    text = "echo: mail <EMAIL_1>, ssn <SSN_1>"
    elements = [
        {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": c}]}}]}
        for c in text
    ]
    wire = b"[" + b",\r\n".join(json.dumps(e).encode() for e in elements) + b"]"
    stream = ReplyRestore(vault, "gemini").wrap(_Passthrough())
    # Fed in 3-byte pieces, so elements arrive split too.
    out = b"".join(stream.feed(wire[i : i + 3]) for i in range(0, len(wire), 3)) + stream.finish()
    assert b"<" not in out and b">" not in out
    parsed = json.loads(out)
    assert len(parsed) == len(elements)
    restored = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in parsed)
    assert restored == f"echo: mail {EMAIL}, ssn {SSN}"
