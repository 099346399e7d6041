"""Writing responses to the ASGI `send` channel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.errors import Denial, error_type

Send = Callable[[dict[str, Any]], Awaitable[None]]
Header = tuple[bytes, bytes]

JSON_TYPE: Header = (b"content-type", b"application/json")
SSE_TYPE: Header = (b"content-type", b"text/event-stream; charset=utf-8")
NO_CACHE: Header = (b"cache-control", b"no-cache")
CLOSE: Header = (b"connection", b"close")


def request_id_header(request_id: str) -> Header:
    return (b"x-candela-request-id", request_id.encode())


def error_body(*, status: int, code: str, message: str, request_id: str) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "type": error_type(status),
                "code": code,
                "message": message,
                "param": None,
                "request_id": request_id,
            }
        }
    )


async def send_bytes(send: Send, status: int, body: bytes, headers: list[Header]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_denial(send: Send, denial: Denial, request_id: str) -> None:
    body = error_body(
        status=denial.status, code=denial.code, message=denial.message, request_id=request_id
    )
    headers = [JSON_TYPE, request_id_header(request_id), *denial.headers]
    await send_bytes(send, denial.status, body, headers)
