"""Reads the server name (SNI) from a TLS ClientHello without consuming it.

The listener peeks at the first bytes of a redirected connection to decide,
before any TLS is spoken, whether to terminate it (a provider host), refuse it
or splice it through untouched (both need the bytes still unread).
"""

from __future__ import annotations

import struct

HANDSHAKE = 0x16
CLIENT_HELLO = 0x01
SERVER_NAME_EXTENSION = 0x0000
HOST_NAME = 0x00
# A ClientHello larger than this is not something a real client sends.
MAX_HELLO_BYTES = 64 * 1024


class NeedMoreData(Exception):
    """The bytes so far are a valid prefix of a ClientHello; read more."""


class NotClientHello(ValueError):
    """The connection does not start with a TLS ClientHello."""


def _handshake_message(data: bytes) -> bytes:
    """Reassemble the first handshake message from its TLS records."""
    payload = bytearray()
    offset = 0
    needed: int | None = None
    while needed is None or len(payload) < needed:
        if len(data) < offset + 5:
            raise NeedMoreData
        content_type, major, _minor, length = struct.unpack_from("!BBBH", data, offset)
        if content_type != HANDSHAKE or major != 3:
            raise NotClientHello("not a TLS handshake record")
        if length == 0 or length > 16384 + 2048:
            raise NotClientHello("bad TLS record length")
        if len(data) < offset + 5 + length:
            raise NeedMoreData
        payload += data[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if needed is None and len(payload) >= 4:
            if payload[0] != CLIENT_HELLO:
                raise NotClientHello("first handshake message is not a ClientHello")
            needed = 4 + int.from_bytes(payload[1:4], "big")
            if needed > MAX_HELLO_BYTES:
                raise NotClientHello("ClientHello too large")
    return bytes(payload[:needed])


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise NotClientHello("truncated ClientHello")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.u8() if length_bytes == 1 else self.u16())


def server_name(data: bytes) -> str | None:
    """The host_name in the ClientHello at the start of `data`, or None if it sent none.

    Raises NeedMoreData while the ClientHello is incomplete and NotClientHello
    for anything that is not one.
    """
    message = _Reader(_handshake_message(data))
    message.take(4)  # handshake type + length
    message.take(2 + 32)  # legacy_version + random
    message.vector(1)  # legacy_session_id
    message.vector(2)  # cipher_suites
    message.vector(1)  # legacy_compression_methods
    if message.pos == len(message.data):
        return None  # no extensions at all
    extensions = _Reader(message.vector(2))
    while extensions.pos < len(extensions.data):
        ext_type = extensions.u16()
        body = extensions.vector(2)
        if ext_type != SERVER_NAME_EXTENSION:
            continue
        names = _Reader(_Reader(body).vector(2))
        while names.pos < len(names.data):
            name_type = names.u8()
            name = names.vector(2)
            if name_type == HOST_NAME:
                try:
                    return name.decode("ascii").rstrip(".").lower()
                except UnicodeDecodeError as exc:
                    raise NotClientHello("server name is not ASCII") from exc
        return None
    return None
