"""Reading the request body within the size limit, and parsing it as a JSON object."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.errors import Denial, invalid_request
from gateway.responses import CLOSE

Receive = Callable[[], Awaitable[dict[str, Any]]]


class ClientGone(Exception):
    """The client disconnected before the request body arrived."""


def _too_large(limit: int) -> Denial:
    # `connection: close` lets the server drop the socket instead of draining the rest.
    return Denial(
        "request_too_large",
        f"The request body is larger than the limit of {limit} bytes.",
        headers=[CLOSE],
    )


async def read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed `limit` bytes."""
    declared = headers.get(b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise invalid_request("Content-Length is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise invalid_request("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    return body
