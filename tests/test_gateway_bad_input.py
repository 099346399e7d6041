"""Bad input is refused with 400/413, never forwarded, always recorded; nothing crashes."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.gateway_harness import (
    auth,
    chat_body,
    wait_for_records,
)
from tests.gateway_world import gateways_fixture

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
LIMIT = 64 * 1024


gateways = gateways_fixture("gw-bad-input", CANDELA_MAX_BODY_BYTES=str(LIMIT))


@pytest.fixture
def raw_key(gateways, setup, dev_a) -> str:
    _, raw = setup.key(dev_a)
    gateways.sync()
    return raw


BAD_BODIES = {
    "not json": b"{this is not json",
    "empty": b"",
    "array": b"[1, 2, 3]",
    "invalid utf-8": b"\xff\xfe\xfd",
    "deeply nested": b"[" * 5000 + b"]" * 5000,
    "integer overflow": b'{"model": "gpt-4o-mini", "messages": [], "n": 1' + b"0" * 40 + b"}",
}
BAD_FIELDS = {
    "missing model": {"messages": [{"role": "user", "content": "hi"}]},
    "model not a string": {"model": 42, "messages": [{"role": "user", "content": "hi"}]},
    "empty model": {"model": "", "messages": [{"role": "user", "content": "hi"}]},
    "missing messages": {"model": "gpt-4o-mini"},
    "empty messages": {"model": "gpt-4o-mini", "messages": []},
    "messages not a list": {"model": "gpt-4o-mini", "messages": "hi"},
    "message without role": {"model": "gpt-4o-mini", "messages": [{"content": "hi"}]},
    "content a number": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 7}]},
    "content parts not objects": chat_body() | {"messages": [{"role": "user", "content": [1]}]},
    "stream a string": chat_body(stream="yes"),
    "max_tokens negative": chat_body(max_tokens=-5),
    "max_tokens a string": chat_body(max_tokens="100"),
    "n zero": chat_body(n=0),
    "max_tokens absurd": chat_body(max_tokens=10**15),
    "stream_options not an object": chat_body(stream=True, stream_options=[1]),
}


def _assert_all_refused(responses: dict[str, httpx.Response], status: int, code: str) -> None:
    for name, response in responses.items():
        assert response.status_code == status, f"{name}: {response.text}"
        assert response.json()["error"]["code"] == code, name
    ids = {r.headers["x-candela-request-id"]: name for name, r in responses.items()}
    rows = wait_for_records(ids)
    assert len(rows) == len(ids)
    for row in rows:
        assert (row.decision, row.reason, row.status_code) == ("denied", code, status), ids[
            row.request_id
        ]


def _assert_refused(response: httpx.Response, status: int, code: str) -> None:
    _assert_all_refused({"request": response}, status, code)


def test_unparseable_body_is_400(gateways, raw_key, fake):
    responses = {
        name: httpx.post(
            gateways.url + "/v1/chat/completions",
            content=body,
            headers={**auth(raw_key), "content-type": "application/json"},
        )
        for name, body in BAD_BODIES.items()
    }
    _assert_all_refused(responses, 400, "invalid_request")
    assert fake.request_count == 0


def test_wrong_or_missing_fields_are_400(gateways, raw_key, fake):
    responses = {
        name: httpx.post(gateways.url + "/v1/chat/completions", json=body, headers=auth(raw_key))
        for name, body in BAD_FIELDS.items()
    }
    _assert_all_refused(responses, 400, "invalid_request")
    assert fake.request_count == 0


def test_other_endpoints_validate_their_fields(gateways, raw_key, fake):
    cases = [
        ("/v1/completions", {"model": "gpt-4o-mini"}),
        ("/v1/completions", {"model": "gpt-4o-mini", "prompt": {"text": "hi"}}),
        ("/v1/embeddings", {"model": "gpt-4o-mini", "input": []}),
        ("/v1/embeddings", {"model": "gpt-4o-mini", "input": [{"x": 1}]}),
        ("/v1/embeddings", {"model": "gpt-4o-mini", "input": "hi", "stream": True}),
    ]
    responses = {
        f"{path} {body}": httpx.post(gateways.url + path, json=body, headers=auth(raw_key))
        for path, body in cases
    }
    _assert_all_refused(responses, 400, "invalid_request")
    assert fake.request_count == 0


def test_unknown_model_is_404_model_not_found(gateways, raw_key, fake):
    response = httpx.post(
        gateways.url + "/v1/chat/completions",
        json=chat_body(model="no-such-model"),
        headers=auth(raw_key),
    )
    _assert_refused(response, 404, "model_not_found")
    assert fake.request_count == 0


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_declared_oversize_body_is_413_before_it_is_sent(gateways, raw_key, fake):
    with socket.create_connection(("127.0.0.1", gateways[0].port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
            + f"Authorization: Bearer {raw_key}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
            + b'{"model": "gpt-4o-mini", '
        )
        head = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 413"), head
    request_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-candela-request-id")
    )
    (row,) = wait_for_records([request_id])
    assert (row.reason, row.status_code) == ("request_too_large", 413)
    assert fake.request_count == 0


def test_chunked_oversize_body_is_413_without_reading_to_the_end(gateways, raw_key, fake):
    with socket.create_connection(("127.0.0.1", gateways[0].port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
            + f"Authorization: Bearer {raw_key}\r\n".encode()
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 16384
        for _ in range(LIMIT // len(piece) + 2):  # past the limit; never the final chunk
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        head = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"connection: close" in head.lower()
    assert fake.request_count == 0


def test_body_just_under_the_limit_is_served(gateways, raw_key, fake):
    body = chat_body(content="word " * ((LIMIT - 200) // 5))
    response = httpx.post(gateways.url + "/v1/chat/completions", json=body, headers=auth(raw_key))
    assert response.status_code == 200, response.text
    assert fake.request_count == 1


def test_gateway_survives_every_bad_input(gateways, raw_key):
    for body in [*BAD_BODIES.values(), b'{"model": null}', b"\x00" * 100, b'"just a string"']:
        httpx.post(gateways.url + "/v1/chat/completions", content=body, headers=auth(raw_key))
    response = httpx.post(
        gateways.url + "/v1/chat/completions", json=chat_body(), headers=auth(raw_key)
    )
    assert response.status_code == 200
    assert gateways[0].process.poll() is None
