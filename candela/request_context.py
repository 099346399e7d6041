"""Request id and client address for the current Django request, for audit events."""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass

_current: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar(
    "candela_request_meta", default=None
)


@dataclass(frozen=True)
class RequestMeta:
    request_id: str
    ip: str


def current_request_meta() -> RequestMeta:
    meta = _current.get()
    return meta or RequestMeta(request_id=uuid.uuid4().hex, ip="")


def meta_from_request(request) -> RequestMeta:
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    ip = forwarded.split(",")[0].strip() if forwarded else request.META.get("REMOTE_ADDR", "")
    return RequestMeta(request_id=request_id[:64], ip=ip or "")


class RequestContextMiddleware:
    """Attaches `request.meta` and exposes it to services through a contextvar."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = meta_from_request(request)
        request.meta = meta
        token = _current.set(meta)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response["x-candela-request-id"] = meta.request_id
        return response
