"""POST /v1/chat/completions, /v1/completions, /v1/embeddings: the full pipeline.

authenticate (401) → attribute tenant (400/403) → read + parse body (413/400)
→ model allowlist (403) → route (404) → reserve: rate window, caps, budget
(429/402/503) → forward (stream or not; 502/504) → settle or release → record.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.body import ClientGone, Receive, parse_object, read_body
from gateway.context import RequestContext
from gateway.errors import Denial
from gateway.model_policy import check_allowed
from gateway.pipeline import Pipeline
from gateway.plain import forward_plain
from gateway.responses import Send, request_id_header, send_denial
from gateway.specs import EndpointSpec
from gateway.streaming import forward_stream


class InferenceEndpoint:
    def __init__(self, spec: EndpointSpec, pipeline: Pipeline) -> None:
        self.spec = spec
        self.p = pipeline

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        ctx = RequestContext.begin(scope, self.spec.name)
        try:
            await self._serve(ctx, scope, receive, send)
        except Denial as denial:
            ctx.refuse(denial)
            await send_denial(send, denial, ctx.request_id)
        except ClientGone:
            ctx.status, ctx.decision, ctx.reason = 499, "denied", "client_disconnected"
        except BaseException:
            ctx.status, ctx.decision, ctx.reason = 500, "error", "internal_error"
            raise
        finally:
            ctx.finish()
            self.p.runtime.recorder.record(ctx)

    async def _serve(
        self, ctx: RequestContext, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        p, rt = self.p, self.p.runtime
        snapshot = rt.policy.current()
        headers = dict(scope["headers"])
        now = time.time()
        key = ctx.key = p.authenticate(headers, scope["query_string"], snapshot, now)
        tenant = ctx.tenant = p.attribute(key, headers, snapshot)
        raw = await read_body(receive, headers, rt.config.max_body_bytes)
        request = self.spec.parse(raw, parse_object(raw), rt.config.default_max_tokens)
        ctx.model, ctx.stream = request.model, request.stream
        check_allowed(key, request.model)
        target = ctx.route = p.router(snapshot, request.model)
        reserve_nano = target.cost_nano(request.prompt_tokens, request.max_output_tokens)
        assert rt.gate is not None and rt.session is not None
        rate = await rt.gate.reserve(ctx, key=key, tenant=tenant, now=now, cost_nano=reserve_nano)
        out_headers = [
            request_id_header(ctx.request_id),
            (b"x-candela-provider", target.provider_name.encode()),
            *rate,
        ]
        common = {
            "session": rt.session,
            "adapter": p.adapters[target.kind],
            "target": target,
            "spec": self.spec,
            "request": request,
            "send": send,
            "headers": out_headers,
            "retries": rt.config.upstream_retries,
        }
        tokens = None
        try:
            if request.stream:
                tokens = await forward_stream(ctx=ctx, receive=receive, **common)
            else:
                tokens = await forward_plain(**common)
        finally:
            actual = 0
            if tokens is not None:
                ctx.prompt_tokens, ctx.completion_tokens = tokens
                actual = target.cost_nano(*tokens)
                ctx.cost_nano = actual
            await rt.gate.settle(ctx, actual)
