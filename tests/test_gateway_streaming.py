"""Streaming: relayed event by event, usage captured, disconnects cancel and charge."""

from __future__ import annotations

import itertools
import json
import time
from decimal import Decimal

import httpx
import pytest

from gateway.estimate import chat_prompt_tokens, tokens_for_bytes
from governance.counters.base import cost_nano, nano_to_usd
from governance.models import UsageRecord
from tests.gateway_harness import (
    PRICE_IN,
    PRICE_OUT,
    auth,
    chat_body,
    spend,
    sse_events,
    wait_for_records,
    wait_until,
)
from tests.gateway_world import gateways_fixture, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


gateways = gateways_fixture("gw-streaming")


user = user_fixture("s@acme.test")


@pytest.fixture
def raw_key(gateways, setup, user) -> str:
    _, raw = setup.key(user)
    gateways.sync()
    return raw


def _stream(gateways, raw: str, body: dict, path: str = "/v1/chat/completions"):
    return httpx.stream("POST", gateways.url + path, json=body, headers=auth(raw), timeout=10)


def _text(events: list) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for e in events
        if isinstance(e, dict)
        for choice in e.get("choices", [])
    )


def test_events_are_relayed_as_they_arrive(gateways, raw_key, fake):
    fake.configure(reply_text="one two three four five six", stream_chunks=6, chunk_delay_s=0.25)
    started = time.monotonic()
    arrivals = []
    with _stream(gateways, raw_key, chat_body(stream=True)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-candela-provider"] == "fake-openai"
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic() - started, line))
    assert arrivals[-1][1] == "data: [DONE]"
    content = [t for t, line in arrivals if '"content"' in line]
    # Six content events a quarter second apart: the first reached the client long
    # before the provider finished, and they arrived spread out, not in one burst.
    assert arrivals[-1][0] - content[0] >= 1.0
    assert all(later - earlier >= 0.1 for earlier, later in itertools.pairwise(content))


def test_usage_is_captured_when_the_client_did_not_ask(gateways, raw_key, fake, tenant_a, user):
    with _stream(gateways, raw_key, chat_body(stream=True)) as response:
        events = sse_events(response)
    assert _text(events) == "echo: hello there"
    assert not any(isinstance(e, dict) and e.get("usage") for e in events)
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.prompt_tokens, row.completion_tokens, row.streamed) == (2, 3, True)
    assert row.cost_usd == nano_to_usd(8_000).quantize(Decimal("0.000001"))
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == 8_000)


def test_usage_chunk_is_passed_on_when_the_client_asked(gateways, raw_key):
    body = chat_body(stream=True, stream_options={"include_usage": True})
    with _stream(gateways, raw_key, body) as response:
        events = sse_events(response)
    usage = [e["usage"] for e in events if isinstance(e, dict) and e.get("usage")]
    assert usage == [{"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}]


def test_client_disconnect_cancels_upstream_and_charges_what_was_streamed(
    gateways, raw_key, fake, tenant_a, user
):
    words = [f"w{i:02d}" for i in range(20)]
    fake.configure(reply_text=" ".join(words), stream_chunks=20, chunk_delay_s=0.2)
    body = chat_body(stream=True, max_tokens=500)
    received = ""
    with _stream(gateways, raw_key, body) as response:
        request_id = response.headers["x-candela-request-id"]
        for line in response.iter_lines():
            if '"content"' in line:
                received += _text([json.loads(line[6:])])
            if received.count("w") >= 3:
                break  # leaving the block closes the connection mid-stream
    (row,) = wait_for_records([request_id])
    assert (row.decision, row.reason, row.streamed) == ("allowed", "client_disconnected", True)
    # Charged for the text the gateway had relayed: at least what the client read,
    # far less than the whole answer (the upstream read was cancelled).
    whole = len(" ".join(words))
    assert tokens_for_bytes(len(received)) <= row.completion_tokens < tokens_for_bytes(whole)
    assert row.prompt_tokens == chat_prompt_tokens(body)
    expected = cost_nano(row.prompt_tokens, row.completion_tokens, PRICE_IN, PRICE_OUT)
    assert row.cost_usd == nano_to_usd(expected).quantize(Decimal("0.000001"))
    assert row.latency_ms < 2000  # the full answer takes 20 x 0.2 s
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == expected)


def test_client_leaving_before_the_first_event_is_recorded(gateways, raw_key, fake):
    fake.configure(latency_s=1.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateways.url + "/v1/chat/completions",
            json=chat_body(stream=True),
            headers=auth(raw_key),
            timeout=httpx.Timeout(10, read=0.3),
        )
    rows = wait_until(
        lambda: list(UsageRecord.objects.filter(reason="client_disconnected", streamed=True))
    )
    assert len(rows) == 1
    assert (rows[0].decision, rows[0].completion_tokens) == ("allowed", 0)
    assert rows[0].prompt_tokens == chat_prompt_tokens(chat_body(stream=True))
    # Recorded as soon as the client left: the upstream call was cancelled, not awaited.
    assert rows[0].latency_ms < 1000


def test_upstream_cut_mid_stream_ends_with_an_error_event(gateways, raw_key, fake, tenant_a, user):
    fake.configure(stream_chunks=6, cut_after_frames=3)
    fake.fail_next(1, "cut_stream")
    with _stream(gateways, raw_key, chat_body(stream=True)) as response:
        assert response.status_code == 200
        events = sse_events(response)
    assert events[-1]["error"]["code"] == "upstream_error"
    streamed = _text(events)
    assert streamed and streamed != "echo: hello there"
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.decision, row.reason) == ("error", "upstream_error")
    assert row.completion_tokens == tokens_for_bytes(len(streamed))
    expected = cost_nano(row.prompt_tokens, row.completion_tokens, PRICE_IN, PRICE_OUT)
    assert wait_until(lambda: spend(tenant_a.id, user.id).user_day_nano == expected)


def test_stream_failing_before_any_event_is_a_clean_502(gateways, raw_key, fake, tenant_a, user):
    fake.set_failure("status_500")
    with _stream(gateways, raw_key, chat_body(stream=True)) as response:
        response.read()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.decision, row.cost_usd) == ("error", 0)
    assert spend(tenant_a.id, user.id).user_day_nano == 0


def test_legacy_completions_stream(gateways, raw_key, fake):
    body = {"model": "gpt-4o-mini", "prompt": "say something", "stream": True}
    with _stream(gateways, raw_key, body, path="/v1/completions") as response:
        events = sse_events(response)
    text = "".join(c["text"] for e in events if isinstance(e, dict) for c in e["choices"])
    assert text == "echo: say something"
    assert events[-1] == "[DONE]"
    (row,) = wait_for_records([response.headers["x-candela-request-id"]])
    assert (row.endpoint, row.completion_tokens, row.streamed) == ("completions", 3, True)
