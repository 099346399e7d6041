"""The server name is read from real ClientHellos, whole, split or absent."""

from __future__ import annotations

import ssl

import pytest

from ebpf.clienthello import NeedMoreData, NotClientHello, server_name


def _client_hello(server_hostname: str | None, **options) -> bytes:
    """The exact bytes Python's OpenSSL sends first as a TLS client."""
    context = ssl.create_default_context()
    if server_hostname is None:
        context.check_hostname = False
    if options.get("tls13_only"):
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    if options.get("alpn"):
        context.set_alpn_protocols(["h2", "http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize(
    "options", [{}, {"tls13_only": True}, {"alpn": True}], ids=["default", "tls13", "alpn"]
)
def test_server_name_of_a_real_client_hello(options):
    hello = _client_hello("api.openai.com", **options)
    assert server_name(hello) == "api.openai.com"


def test_upper_case_and_trailing_dot_are_normalised():
    assert server_name(_client_hello("API.Anthropic.COM.")) == "api.anthropic.com"


def test_client_without_sni_has_no_server_name():
    assert server_name(_client_hello(None)) is None


def test_every_strict_prefix_asks_for_more_data():
    hello = _client_hello("generativelanguage.googleapis.com")
    for cut in (1, 4, 5, 6, 40, len(hello) - 1):
        with pytest.raises(NeedMoreData):
            server_name(hello[:cut])
    # Bytes after the ClientHello (a pipelining client) do not matter.
    assert server_name(hello + b"\x17\x03\x03\x00\x01x") == "generativelanguage.googleapis.com"


def test_client_hello_split_over_two_tls_records():
    hello = _client_hello("api.groq.com")
    body = hello[5:]
    half = len(body) // 2
    record = lambda chunk: b"\x16\x03\x01" + len(chunk).to_bytes(2, "big") + chunk  # noqa: E731
    assert server_name(record(body[:half]) + record(body[half:])) == "api.groq.com"
    with pytest.raises(NeedMoreData):
        server_name(record(body[:half]))


@pytest.mark.parametrize(
    "data",
    [
        b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00",  # a ServerHello, not a ClientHello
        b"\x15\x03\x03\x00\x02\x02\x28",  # an alert record
    ],
    ids=["http", "ssh", "server-hello", "alert"],
)
def test_anything_else_is_not_a_client_hello(data):
    with pytest.raises(NotClientHello):
        server_name(data)
