"""Restoring sentinels in whole and streamed responses."""

from __future__ import annotations

import itertools

import pytest

from gateway.pii import Restorer, StreamRestorer, Vault, tokenize_body

EMAIL = "jane.doe@example.com"
PHONE = "(415) 555-0132"
CARD = "4111 1111 1111 1111"


def make_vault() -> Vault:
    body = {
        "model": "m",
        "messages": [
            {
                "role": "user",
                "content": f"{EMAIL} {PHONE} {CARD} "
                + " ".join(f"u{i}@example.com" for i in range(11)),
            }
        ],
    }
    _, _, vault = tokenize_body(body, "openai")
    assert vault["<EMAIL_1>"] == EMAIL and vault["<PHONE_1>"] == PHONE
    assert "<EMAIL_12>" in vault  # two-digit sentinel as well
    return vault


VAULT = make_vault()


def expected(text: str) -> str:
    out = text
    for tok in sorted(VAULT, key=len, reverse=True):
        out = out.replace(tok, VAULT[tok])
    return out


def run(pieces: list[str]) -> tuple[str, list[str]]:
    sr = VAULT.stream_restorer()
    emitted = [sr.feed(p) for p in pieces]
    emitted.append(sr.flush())
    return "".join(emitted), emitted


def test_restore_whole_text() -> None:
    r = Restorer(VAULT)
    assert r.restore("Hi <EMAIL_1>, I'll call <PHONE_1>.") == f"Hi {EMAIL}, I'll call {PHONE}."
    assert r.restore("<EMAIL_1><PHONE_1>") == EMAIL + PHONE
    assert (
        r.restore("unknown <EMAIL_99> and <NOPE_1> stay") == "unknown <EMAIL_99> and <NOPE_1> stay"
    )
    assert r.restore("no sentinels") == "no sentinels"
    assert Restorer(Vault()).restore("<EMAIL_1>") == "<EMAIL_1>"


TEXTS = [
    "Hello <EMAIL_1>, bye",
    "héllo 🙂<PHONE_1>🙂 naïve",
    "<EMAIL_12>",
    "a <EMAIL_1> b <PHONE_1> c <CREDIT_CARD_1> d",
    "<EMAIL_1><PHONE_1><EMAIL_12>",  # adjacent
    "x < y and <EMAIL_1> <<EMAIL_1>> <E <EMAIL_ <EMAIL_1",  # lone '<' and near-misses
]


@pytest.mark.parametrize("text", TEXTS)
def test_split_at_every_position(text: str) -> None:
    want = expected(text)
    for i in range(len(text) + 1):
        got, _ = run([text[:i], text[i:]])
        assert got == want, i


@pytest.mark.parametrize("text", TEXTS[2:4])
def test_split_at_every_pair_of_positions(text: str) -> None:
    want = expected(text)
    for i, j in itertools.combinations(range(len(text) + 1), 2):
        got, _ = run([text[:i], text[i:j], text[j:]])
        assert got == want, (i, j)


@pytest.mark.parametrize("text", TEXTS)
def test_char_by_char_never_emits_a_partial_sentinel(text: str) -> None:
    sr = VAULT.stream_restorer()
    out = ""
    longest = VAULT.max_sentinel_len
    for ch in text:
        out += sr.feed(ch)
        assert sr.pending < longest
    out += sr.flush()
    assert out == expected(text)


def test_emitted_text_never_contains_sentinel_fragments() -> None:
    text = "pre <EMAIL_1> mid <PHONE_1> post"
    for size in range(1, len(text) + 1):
        pieces = [text[k : k + size] for k in range(0, len(text), size)]
        got, emitted = run(pieces)
        assert got == expected(text)
        for piece in emitted:
            for frag in ("<EM", "AIL_", "_1>", "<PH", "ONE_"):
                assert frag not in piece


def test_ordinary_text_is_not_delayed() -> None:
    sr = VAULT.stream_restorer()
    assert sr.feed("plain text ") == "plain text "
    assert sr.feed("a < b") == "a < b"  # '<' followed by ' ' can't start a sentinel
    assert sr.feed("x <y") == "x <y"
    assert sr.feed("1<2") == "1<2"
    assert sr.feed("tag <div>") == "tag <div>"
    assert sr.pending == 0
    # a trailing '<' may still open a sentinel: held for exactly one piece
    assert sr.feed("then <") == "then "
    assert sr.pending == 1
    assert sr.feed(" more") == "< more"
    assert sr.feed("<EMA") == ""
    assert sr.feed("X>") == "<EMAX>"
    assert sr.flush() == ""


def test_holds_back_only_within_max_sentinel_length() -> None:
    sr = VAULT.stream_restorer()
    assert sr.feed("<EMAIL_1") == ""  # could still become <EMAIL_1> or <EMAIL_12>
    assert sr.feed("2") == ""
    assert sr.feed("> ok") == f"{VAULT['<EMAIL_12>']} ok"
    assert sr.feed("<EMAIL_13") == "<EMAIL_13"  # no such sentinel: released at once
    assert sr.feed("<CREDIT_CARD_") == ""
    assert sr.flush() == "<CREDIT_CARD_"  # stream ended mid-sentinel: passed through


def test_empty_vault_streams_through() -> None:
    sr = StreamRestorer(Vault())
    assert sr.feed("a <") == "a <"
    assert sr.feed("EMAIL_1>") == "EMAIL_1>"
    assert sr.flush() == ""
    assert sr.feed("") == ""


def test_json_string_mode_keeps_tool_arguments_valid() -> None:
    import json

    pem_like = 'line one\nline "two"'
    vault = Vault()
    tok = vault.token_for("PRIVATE_KEY", pem_like)
    args = json.dumps({"key": tok, "n": 1})
    assert json.loads(vault.restorer(json_string=True).restore(args)) == {"key": pem_like, "n": 1}
    for i in range(len(args) + 1):
        sr = vault.stream_restorer(json_string=True)
        out = sr.feed(args[:i]) + sr.feed(args[i:]) + sr.flush()
        assert json.loads(out) == {"key": pem_like, "n": 1}
    # plain mode restores the raw value
    assert vault.restorer().restore(tok) == pem_like
