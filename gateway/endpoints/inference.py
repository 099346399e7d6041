"""POST /v1/chat/completions, /v1/completions, /v1/embeddings: the full pipeline.

authenticate (401) → attribute tenant (400/403) → read + parse body (413/400)
→ PII/secret scan: redact | tokenize, warn | 422 (gateway.pii_step) → model allowlist
(403) → routes: priority, fallbacks, region pin, PHI/BAA, provider hard caps
(404/403/502; gateway.routing) → reserve the worst case over those routes: rate window,
caps, budget (429/402/503) → attempts in order with retries, backoff and circuit
breakers (gateway.fallback; stream or not; 502/504; tokenized PII restored) → settle
the serving route's exact cost or release → record (attempts in the audit data).
The same endpoint serves the Anthropic and Gemini formats (`spec.client_format`):
errors then take that format's shape.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.body import ClientGone, Receive, parse_object, read_body
from gateway.context import RequestContext
from gateway.errors import Denial, no_provider
from gateway.fallback import Forward
from gateway.model_policy import check_allowed
from gateway.pii_restore import ReplyRestore
from gateway.pipeline import Pipeline
from gateway.plain import forward_plain
from gateway.responses import Header, Send, request_id_header
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.streaming import forward_stream
from gateway.translate.clients import send_client_denial
from governance.snapshot import RouteTarget


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
            await send_client_denial(send, self.spec.client_format, denial, ctx.request_id)
        except ClientGone:
            ctx.status, ctx.decision, ctx.reason = 499, "denied", "client_disconnected"
        except BaseException:
            ctx.status, ctx.decision, ctx.reason = 500, "error", "internal_error"
            raise
        finally:
            ctx.finish()
            self.p.runtime.recorder.record(ctx)

    def parse(self, scope: dict[str, Any], raw: bytes) -> ParsedRequest:
        """The request as this endpoint's format reads it (400 when it does not)."""
        return self.spec.parse(raw, parse_object(raw), self.p.runtime.config.default_max_tokens)

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
        request = self.parse(scope, raw)
        ctx.model, ctx.stream = request.model, request.stream
        fmt = self.spec.client_format
        request = p.pii(ctx, headers=headers, key=key, tenant=tenant, request=request, fmt=fmt)
        check_allowed(key, request.model)
        assert rt.gate is not None and rt.breaker is not None and rt.provider_budget is not None
        candidates = p.router.plan(snapshot, self.spec, request.model, key=key, tenant=tenant)
        candidates = await rt.provider_budget.within_budget(candidates, now)
        if not candidates:
            raise no_provider(
                f"Every provider for {request.model!r} has spent its monthly budget.",
                reason="provider_budget_exhausted",
            )
        ctx.route = candidates[0]
        # One reservation for the whole request: the worst case over every route it may take.
        reserve_nano = max(
            t.cost_nano(request.prompt_tokens, request.max_output_tokens) for t in candidates
        )
        # The first route's breaker is read (read-only) in the same write and round trip as
        # the reservation. An open or half-open breaker is still decided by `admit`, after
        # the reservation, as for every later try.
        peek = rt.breaker.peek(candidates[0].provider_id)
        try:
            rate = await rt.gate.reserve(
                ctx, key=key, tenant=tenant, now=now, cost_nano=reserve_nano
            )
        finally:
            first = await peek  # answered before the reservation: it left first
        vault = ctx.pii.vault if ctx.pii is not None else None
        restore = ReplyRestore(vault, fmt) if vault is not None else None
        forward = self._forwarder(ctx, request, receive, send, rate, restore)
        served, tokens = None, None
        try:
            served, tokens = await p.attempts.run(ctx, candidates, forward, rt.breaker, first)
        finally:
            actual = 0
            if served is not None and tokens is not None:
                ctx.prompt_tokens, ctx.completion_tokens = tokens
                actual = ctx.cost_nano = served.cost_nano(*tokens)
            await rt.gate.settle(ctx, actual)
            if served is not None:
                await rt.provider_budget.add(served, actual, now, tenant.id)

    def _forwarder(
        self,
        ctx: RequestContext,
        request: ParsedRequest,
        receive: Receive,
        send: Send,
        rate: list[Header],
        restore: ReplyRestore | None,
    ) -> Forward:
        """One upstream attempt on a route: the answer goes to the client as it comes."""
        p, rt = self.p, self.p.runtime
        assert rt.session is not None

        async def forward(target: RouteTarget) -> tuple[int, int]:
            headers = [
                request_id_header(ctx.request_id),
                (b"x-candela-provider", target.provider_name.encode()),
                *rate,
                *(ctx.pii.headers if ctx.pii is not None else ()),
            ]
            common: dict[str, Any] = {
                "session": rt.session,
                "adapter": p.adapters[target.kind],
                "target": target,
                "spec": self.spec,
                "request": request,
                "send": send,
                "headers": headers,
                "retries": 0,  # gateway.fallback retries, with backoff and the breaker
                "restore": restore,
            }
            if request.stream:
                return await forward_stream(ctx=ctx, receive=receive, **common)
            return await forward_plain(**common)

        return forward
