"""Anything else under the gateway's prefixes: 404 (or 405) in OpenAI's error shape."""

from __future__ import annotations

from typing import Any

from gateway.body import Receive
from gateway.context import RequestContext
from gateway.errors import Denial
from gateway.responses import Send, send_denial
from gateway.runtime import Runtime


class NotFound:
    def __init__(self, runtime: Runtime, *, method_not_allowed: bool = False) -> None:
        self.runtime = runtime
        self.method_not_allowed = method_not_allowed

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        ctx = RequestContext.begin(scope, "unknown")
        if self.method_not_allowed:
            denial = Denial(
                "method_not_allowed", f"{scope['method']} is not allowed on {scope['path']}."
            )
        else:
            denial = Denial("not_found", f"No such endpoint: {scope['method']} {scope['path']}.")
        ctx.refuse(denial)
        await send_denial(send, denial, ctx.request_id)
        ctx.finish()
        self.runtime.recorder.record(ctx)
