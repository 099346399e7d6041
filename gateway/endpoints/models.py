"""GET /v1/models: the models this key may use, in OpenAI's list shape."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.body import Receive
from gateway.context import RequestContext
from gateway.errors import Denial
from gateway.pipeline import Pipeline
from gateway.responses import JSON_TYPE, Send, request_id_header, send_bytes, send_denial

# Lets deployment checks (and tests) see which policy version a process serves.
VERSION_HEADER = b"x-candela-policy-version"


class ModelsEndpoint:
    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        ctx = RequestContext.begin(scope, "models")
        version: list[tuple[bytes, bytes]] = []
        try:
            snapshot = self.p.runtime.policy.current()
            version = [(VERSION_HEADER, str(snapshot.version).encode())]
            headers = dict(scope["headers"])
            key = ctx.key = self.p.authenticate(
                headers, scope["query_string"], snapshot, time.time()
            )
            if key.tenant_id is not None:
                ctx.tenant = snapshot.tenants_by_id.get(key.tenant_id)
            created = int(snapshot.compiled_at)
            data = [
                {
                    "id": name,
                    "object": "model",
                    "created": created,
                    "owned_by": target.provider_name,
                }
                for name, targets in snapshot.routes.items()
                if key.allows(name) and (target := self.p.router.servable(targets)) is not None
            ]
            body = orjson.dumps({"object": "list", "data": data})
            await send_bytes(
                send, 200, body, [JSON_TYPE, request_id_header(ctx.request_id), *version]
            )
        except Denial as denial:
            ctx.refuse(denial)
            denial.headers.extend(version)
            await send_denial(send, denial, ctx.request_id)
        finally:
            ctx.finish()
            self.p.runtime.recorder.record(ctx)
