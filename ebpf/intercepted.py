"""The ASGI app an intercepted connection talks to: the gateway, reached by provider path.

A workload that believes it calls https://api.groq.com/openai/v1/chat/completions
gets Candela's gateway at /v1/chat/completions. Only gateway paths are served
here: the admin, dashboards and REST API stay on Candela's own address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from ebpf.hosts import HostRoute

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_EXTENSION = "candela.intercept"


class InterceptedApp:
    """Wraps the Candela ASGI app for one intercepted connection to `route.host`."""

    def __init__(self, app: ASGIApp, route: HostRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        path = self.route.gateway_path(scope["path"])
        if path is None:
            await _not_an_llm_call(send, scope["path"], self.route.host)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if path != scope["path"]:
            base = self.route.base_path.encode()
            raw_path = (
                b"/v1" + raw_path[len(base) :] if raw_path.startswith(base) else path.encode()
            )
        extensions = dict(scope.get("extensions") or {})
        extensions[SCOPE_EXTENSION] = {
            "host": self.route.host,
            "provider": self.route.provider,
            "kind": self.route.kind,
        }
        await self.app(
            {**scope, "path": path, "raw_path": raw_path, "extensions": extensions}, receive, send
        )


async def _not_an_llm_call(send: Send, path: str, host: str) -> None:
    body = orjson.dumps(
        {
            "error": {
                "type": "invalid_request_error",
                "code": "not_found",
                "message": f"Candela intercepts LLM API calls to {host}; {path} is not one.",
                "request_id": None,
            }
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
