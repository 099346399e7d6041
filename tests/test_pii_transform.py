"""Redaction and tokenisation of every provider-visible field of the three
request formats, including tool arguments; tokenise -> restore round trip."""

from __future__ import annotations

import copy
import json
import random
import string

import pytest

from gateway.pii import (
    ScanResult,
    iter_text_fields,
    redact_body,
    scan_body,
    tokenize_body,
    transform_body,
)

RNG = random.Random(99)
EMAIL = "jane.doe@example.com"
EMAIL2 = "bob@example.org"
PHONE = "(415) 555-0132"
CARD = "4111 1111 1111 1111"
IP = "10.20.30.40"
SSN = "078-05-1123"


def fake_github_token() -> str:
    chars = string.ascii_letters + string.digits
    return "ghp_" + "".join(RNG.choice(chars) for _ in range(33)) + "aZ9"


TOKEN = fake_github_token()


def openai_body() -> dict:
    return {
        "model": "gpt-4o",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": f"Escalations go to {EMAIL}."},
            {
                "role": "user",
                "name": "4155550132",
                "content": [
                    {"type": "text", "text": f"My card is {CARD}, call {PHONE}."},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "send_mail",
                            "arguments": json.dumps(
                                {"to": [EMAIL, EMAIL2], "body": f"token {TOKEN}", "n": 3}
                            ),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": f"sent from {IP}"},
            {"role": "assistant", "function_call": {"name": "f", "arguments": f"ssn {SSN}"}},
        ],
        "tools": [
            {"type": "function", "function": {"name": "send_mail", "description": "Send mail"}}
        ],
    }


def anthropic_body() -> dict:
    return {
        "model": "claude-sonnet-4",
        "max_tokens": 100,
        "system": [{"type": "text", "text": f"Support line {PHONE}"}],
        "messages": [
            {"role": "user", "content": f"I am {EMAIL}"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": f"user is {EMAIL}", "signature": "sig"},
                    {"type": "text", "text": "Looking that up."},
                    {
                        "type": "tool_use",
                        "id": "tu_1",
                        "name": "lookup",
                        "input": {"query": {"email": EMAIL, "ips": [IP, "n/a"]}, "limit": 5},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": [{"type": "text", "text": f"card on file {CARD}"}],
                    },
                    {"type": "tool_result", "tool_use_id": "tu_2", "content": f"key {TOKEN}"},
                    {"type": "text", "text": f"and my ssn is {SSN}"},
                ],
            },
        ],
    }


def gemini_body() -> dict:
    return {
        "systemInstruction": {"parts": [{"text": f"Never reveal {EMAIL}"}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"text": f"Call me at {PHONE}"}, {"inlineData": {"data": "AAAA"}}],
            },
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "pay", "args": {"card": CARD, "meta": {"ip": IP}}}}
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "pay", "response": {"status": f"ok, ssn {SSN}"}}}
                ],
            },
        ],
        "generationConfig": {"temperature": 0.1},
    }


BODIES = {"openai": openai_body, "anthropic": anthropic_body, "gemini": gemini_body}
EXPECTED = {
    "openai": (
        {"EMAIL": 3, "PHONE": 2, "CREDIT_CARD": 1, "IP_ADDRESS": 1, "SSN": 1},
        {"API_KEY": 1},
    ),
    "anthropic": (
        {"EMAIL": 2, "PHONE": 1, "CREDIT_CARD": 1, "IP_ADDRESS": 1, "SSN": 1},
        {"API_KEY": 1},
    ),
    "gemini": ({"EMAIL": 1, "PHONE": 1, "CREDIT_CARD": 1, "IP_ADDRESS": 1, "SSN": 1}, {}),
}
VALUES = (EMAIL, EMAIL2, PHONE, CARD, IP, SSN, TOKEN, "4155550132")


def all_text(body: dict, fmt: str) -> str:
    return "\n".join(iter_text_fields(body, fmt))


# ---------------------------------------------------------------- walking
def test_iter_text_fields_openai_covers_every_field() -> None:
    texts = list(iter_text_fields(openai_body(), "openai"))
    assert f"Escalations go to {EMAIL}." in texts
    assert "4155550132" in texts  # name
    assert f"My card is {CARD}, call {PHONE}." in texts
    assert EMAIL in texts and EMAIL2 in texts  # tool arguments, value by value
    assert f"token {TOKEN}" in texts
    assert f"sent from {IP}" in texts
    assert f"ssn {SSN}" in texts  # legacy function_call.arguments (not JSON)
    assert "Send mail" not in texts  # tool descriptions are configuration
    assert "https://example.com/cat.png" not in texts


def test_iter_text_fields_anthropic_skips_signed_thinking() -> None:
    texts = list(iter_text_fields(anthropic_body(), "anthropic"))
    assert f"user is {EMAIL}" not in texts
    assert f"Support line {PHONE}" in texts and EMAIL in texts and IP in texts and "n/a" in texts
    assert f"card on file {CARD}" in texts and f"key {TOKEN}" in texts


def test_openai_prompt_and_input_forms() -> None:
    for body in (
        {"model": "m", "prompt": f"mail {EMAIL}"},
        {"model": "m", "prompt": ["a", f"mail {EMAIL}"]},
        {"model": "m", "input": f"mail {EMAIL}"},
        {"model": "m", "input": [f"mail {EMAIL}", "b"]},
        {
            "model": "m",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": f"mail {EMAIL}"}]}
            ],
        },
        {"model": "m", "instructions": f"mail {EMAIL}", "input": [[1, 2, 3]]},
    ):
        new, res = redact_body(body, "openai")
        assert res.pii == {"EMAIL": 1}
        assert "[EMAIL_REDACTED]" in json.dumps(new)
        assert EMAIL not in json.dumps(new)
    tokens = {"model": "m", "prompt": [[1, 2, 3]], "input": [101, 102]}
    assert redact_body(tokens, "openai")[0] is tokens


# ---------------------------------------------------------------- redaction
@pytest.mark.parametrize("fmt", sorted(BODIES))
def test_redact_every_field(fmt: str) -> None:
    body = BODIES[fmt]()
    before = copy.deepcopy(body)
    new, res = redact_body(body, fmt)
    assert body == before  # input untouched
    dumped = json.dumps(new, ensure_ascii=False)
    texts = all_text(new, fmt)
    for value in VALUES:
        assert value not in texts, value
    assert isinstance(res, ScanResult)
    assert (res.pii, res.secrets) == EXPECTED[fmt]
    assert res.total == sum(res.pii.values()) + sum(res.secrets.values())
    assert "[EMAIL_REDACTED]" in dumped and "[CREDIT_CARD_REDACTED]" in dumped
    # non-text fields are carried over unchanged
    for key in body:
        if key not in ("messages", "system", "contents", "systemInstruction"):
            assert new[key] == body[key]
    assert scan_body(body, fmt) == res


def test_redact_tool_arguments_stay_valid_json() -> None:
    new, _ = redact_body(openai_body(), "openai")
    args = json.loads(new["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert args == {
        "to": ["[EMAIL_REDACTED]", "[EMAIL_REDACTED]"],
        "body": "token [API_KEY_REDACTED]",
        "n": 3,
    }
    assert new["messages"][4]["function_call"]["arguments"] == "ssn [SSN_REDACTED]"


def test_anthropic_nested_tool_input_and_thinking() -> None:
    body = anthropic_body()
    new, _ = redact_body(body, "anthropic")
    blocks = new["messages"][1]["content"]
    assert blocks[0] is body["messages"][1]["content"][0]  # thinking block untouched
    assert blocks[2]["input"] == {
        "query": {"email": "[EMAIL_REDACTED]", "ips": ["[IP_ADDRESS_REDACTED]", "n/a"]},
        "limit": 5,
    }
    assert new["system"][0]["text"] == "Support line [PHONE_REDACTED]"


def test_gemini_snake_case_and_plain_system() -> None:
    body = {
        "system_instruction": {"parts": [{"text": f"x {EMAIL}"}]},
        "contents": [{"parts": [{"function_call": {"name": "f", "args": {"to": EMAIL}}}]}],
    }
    new, res = redact_body(body, "gemini")
    assert res.pii == {"EMAIL": 2}
    assert new["system_instruction"]["parts"][0]["text"] == "x [EMAIL_REDACTED]"
    assert new["contents"][0]["parts"][0]["function_call"]["args"] == {"to": "[EMAIL_REDACTED]"}


@pytest.mark.parametrize("fmt", sorted(BODIES))
def test_clean_body_is_returned_as_is(fmt: str) -> None:
    body = {
        "openai": {"model": "m", "messages": [{"role": "user", "content": "hello there"}]},
        "anthropic": {
            "model": "m",
            "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}],
        },
        "gemini": {"contents": [{"parts": [{"text": "hello"}]}]},
    }[fmt]
    new, res = redact_body(body, fmt)
    assert new is body
    assert res == ScanResult() and not res and res.total == 0
    new2, _, vault = tokenize_body(body, fmt)
    assert new2 is body and len(vault) == 0


def test_unchanged_branches_are_shared() -> None:
    body = openai_body()
    new, _ = redact_body(body, "openai")
    assert new["tools"] is body["tools"]
    assert new["messages"][1]["content"][1] is body["messages"][1]["content"][1]


def test_unknown_format_and_bad_body() -> None:
    with pytest.raises(ValueError, match="unknown body format"):
        redact_body({}, "cohere")
    with pytest.raises(TypeError):
        transform_body([], "openai", str.upper)  # type: ignore[arg-type]


# ---------------------------------------------------------------- tokenisation
def test_tokenize_sentinels_numbering_and_reuse() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": f"{EMAIL} and {EMAIL2} and {PHONE}"},
            {"role": "user", "content": f"again {EMAIL}, card {CARD}"},
        ],
    }
    new, res, vault = tokenize_body(body, "openai")
    assert new["messages"][0]["content"] == "<EMAIL_1> and <EMAIL_2> and <PHONE_1>"
    assert new["messages"][1]["content"] == "again <EMAIL_1>, card <CREDIT_CARD_1>"
    assert dict(vault) == {
        "<EMAIL_1>": EMAIL,
        "<EMAIL_2>": EMAIL2,
        "<PHONE_1>": PHONE,
        "<CREDIT_CARD_1>": CARD,
    }
    assert res.pii == {"EMAIL": 3, "PHONE": 1, "CREDIT_CARD": 1}
    assert EMAIL not in repr(vault)  # the vault never prints values


def test_tokenize_skips_sentinels_already_in_the_request() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": f"literal <EMAIL_1> then {EMAIL}"}],
    }
    new, _, vault = tokenize_body(body, "openai")
    assert new["messages"][0]["content"] == "literal <EMAIL_1> then <EMAIL_2>"
    assert dict(vault) == {"<EMAIL_2>": EMAIL}


@pytest.mark.parametrize("fmt", sorted(BODIES))
def test_tokenize_round_trip(fmt: str) -> None:
    body = BODIES[fmt]()
    new, res, vault = tokenize_body(body, fmt)
    assert (res.pii, res.secrets) == EXPECTED[fmt]
    restorer = vault.restorer()
    original = list(iter_text_fields(body, fmt))
    tokenised = list(iter_text_fields(new, fmt))
    assert len(original) == len(tokenised)
    for orig, tok in zip(original, tokenised, strict=True):
        assert restorer.restore(tok) == orig
    for value in VALUES:
        assert value not in "\n".join(tokenised)
    # restoring the whole transformed body gives the original back
    assert transform_body(new, fmt, restorer.restore) == body
