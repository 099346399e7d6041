"""Bad upstream answers (garbage JSON, a stream cut mid-way, a hung connection) give
each client a clean error in its own format (OpenAI, Anthropic, Gemini SDKs raise
their own error classes with Candela's code), release the budget reservation (the
counters hold exactly what the ledger charged) and write the audit event."""

from __future__ import annotations

from decimal import Decimal

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from gateway.estimate import tokens_for_bytes
from governance.counters.base import usd_to_nano
from governance.models import UsageRecord
from tests.gateway_harness import (
    chat_body,
    events_for,
    make_user,
    post_json,
    reservation_nano,
    spend,
    wait_until,
)
from tests.gateway_world import gateways_fixture, user_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
PROMPT = "tell me about bad answers"


gateways = gateways_fixture(
    "gw-bad-answers", CANDELA_UPSTREAM_READ_TIMEOUT="1", CANDELA_BREAKER_FAILURES="100"
)


user = user_fixture("bad@acme.test")


@pytest.fixture
def raw_key(gateways, fleet, fake, user) -> str:
    for kind in ("openai", "anthropic", "gemini"):
        fleet.route(f"{kind}-model", fleet.provider(f"up-{kind}", fake, kind=kind))
    raw = fleet.key(user)
    gateways.sync()
    return raw


class Clients:
    """One call per client format, through its official SDK; `code_of` reads Candela's
    error code out of that SDK's exception."""

    def __init__(self, url: str, raw: str) -> None:
        self.openai = openai.OpenAI(base_url=url + "/v1", api_key=raw, max_retries=0)
        self.anthropic = anthropic.Anthropic(base_url=url, api_key=raw, max_retries=0)
        self.genai = genai.Client(api_key=raw, http_options=types.HttpOptions(base_url=url))

    def call(self, client: str, *, stream: bool) -> str:
        """The text received (a stream is read to its end or its error)."""
        if client == "openai":
            messages = [{"role": "user", "content": PROMPT}]
            if not stream:
                reply = self.openai.chat.completions.create(model="openai-model", messages=messages)
                return reply.choices[0].message.content
            chunks = self.openai.chat.completions.create(
                model="openai-model", messages=messages, stream=True
            )
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        if client == "anthropic":
            messages = [{"role": "user", "content": PROMPT}]
            if not stream:
                reply = self.anthropic.messages.create(
                    model="anthropic-model", max_tokens=64, messages=messages
                )
                return reply.content[0].text
            with self.anthropic.messages.stream(
                model="anthropic-model", max_tokens=64, messages=messages
            ) as events:
                return "".join(events.text_stream)
        if not stream:
            return self.genai.models.generate_content(model="gemini-model", contents=PROMPT).text
        chunks = self.genai.models.generate_content_stream(model="gemini-model", contents=PROMPT)
        return "".join(c.text or "" for c in chunks)


ERRORS = {
    "openai": openai.APIError,
    "anthropic": anthropic.APIError,
    "gemini": genai_errors.APIError,
}


def code_of(client: str, exc: Exception) -> str:
    if client == "openai":
        return exc.code
    if client == "anthropic":
        return exc.body["error"]["code"]
    return exc.details["error"]["details"][0]["reason"]


def status_of(client: str, exc: Exception) -> int:
    return exc.code if client == "gemini" else exc.status_code


def _released_and_audited(user, tenant, reason: str) -> UsageRecord:
    """The one request's ledger row; the counters hold exactly its charge."""
    row = wait_until(lambda: UsageRecord.objects.filter(user_id=user.id).first())
    assert (row.decision, row.reason) == ("error", reason)
    charged = usd_to_nano(row.cost_usd)
    assert wait_until(lambda: spend(tenant.id, user.id).user_day_nano == charged)
    (event,) = wait_until(lambda: events_for([row.request_id]))
    assert (event.decision, event.reason, event.provider) == ("error", reason, row.provider)
    return row


CLIENTS = ["openai", "anthropic", "gemini"]


@pytest.mark.parametrize("client", CLIENTS)
def test_garbage_json_is_a_clean_502(gateways, raw_key, fake, tenant_a, user, client):
    fake.set_failure("garbage_json")
    with pytest.raises(ERRORS[client]) as error:
        Clients(gateways.url, raw_key).call(client, stream=False)
    assert status_of(client, error.value) == 502
    assert code_of(client, error.value) == "upstream_error"
    row = _released_and_audited(user, tenant_a, "upstream_error")
    assert row.cost_usd == Decimal("0")


@pytest.mark.parametrize("client", CLIENTS)
def test_garbage_stream_before_the_first_byte_is_a_clean_502(
    gateways, raw_key, fake, tenant_a, user, client
):
    fake.set_failure("garbage_json")
    with pytest.raises(ERRORS[client]) as error:
        Clients(gateways.url, raw_key).call(client, stream=True)
    assert status_of(client, error.value) == 502
    row = _released_and_audited(user, tenant_a, "upstream_error")
    assert row.cost_usd == Decimal("0")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stream", [False, True])
def test_hung_provider_is_a_clean_504(gateways, raw_key, fake, tenant_a, user, client, stream):
    fake.set_failure("hang")
    with pytest.raises(ERRORS[client]) as error:
        Clients(gateways.url, raw_key).call(client, stream=stream)
    assert status_of(client, error.value) == 504
    assert code_of(client, error.value) == "upstream_timeout"
    row = _released_and_audited(user, tenant_a, "upstream_timeout")
    assert row.cost_usd == Decimal("0")
    fake.clear_failures()


@pytest.mark.parametrize("client", CLIENTS)
def test_stream_cut_midway_ends_with_an_error_in_the_clients_format(
    gateways, raw_key, fake, tenant_a, user, client
):
    fake.configure(reply_text="one two three four five six", stream_chunks=6, cut_after_frames=4)
    fake.fail_next(1, "cut_stream")
    clients = Clients(gateways.url, raw_key)
    with pytest.raises(ERRORS[client]) as error:
        clients.call(client, stream=True)
    assert code_of(client, error.value) == "upstream_error"
    row = _released_and_audited(user, tenant_a, "upstream_error")
    # Charged what was relayed before the cut, never the worst case reserved.
    whole = tokens_for_bytes(len("one two three four five six"))
    assert 0 < row.completion_tokens < whole and row.streamed
    assert usd_to_nano(row.cost_usd) < reservation_nano(chat_body(PROMPT))


def test_reservation_is_released_so_an_exact_budget_still_serves(
    gateways, fleet, fake, operator, tenant_a
):
    body = chat_body(PROMPT, model="openai-model", max_tokens=50)
    budget = reservation_nano(body)  # room for exactly one request's worst case
    exact = make_user(
        operator, tenant_a, "exact@acme.test", daily_budget_usd=Decimal(budget) / 10**9
    )
    fleet.route("openai-model", fleet.provider("up-openai", fake))
    raw = fleet.key(exact)
    gateways.sync()
    headers = {"Authorization": f"Bearer {raw}"}
    fake.fail_next(2, "garbage_json")  # the first try and its retry
    failed = post_json(gateways.url + "/v1/chat/completions", body, headers)
    assert failed.status_code == 502
    served = post_json(gateways.url + "/v1/chat/completions", body, headers)
    assert served.status_code == 200, served.text
