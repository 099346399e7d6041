"""Forwarding a whole (non-streamed) request and relaying the whole answer."""

from __future__ import annotations

import aiohttp

from gateway.charges import tokens_to_charge
from gateway.errors import Denial, upstream_error
from gateway.pii_restore import ReplyRestore
from gateway.providers.base import ProviderAdapter, UpstreamGarbage
from gateway.responses import JSON_TYPE, Header, Send, send_bytes
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.upstream import fetch
from governance.snapshot import RouteTarget


def upstream_refusal(adapter: ProviderAdapter, status: int, raw: bytes) -> Denial:
    """An upstream error answer: 4xx pass through with their code, 5xx become 502."""
    code, message = adapter.error_from(status, raw)
    if status >= 500:
        return upstream_error(f"The provider failed ({status}): {message}")
    # A provider's 429 is its capacity, not the client's fault: another route may serve.
    return Denial(
        code,
        message,
        status=status,
        decision="error",
        reason="upstream_rejected",
        failover=status == 429,
    )


async def forward_plain(
    *,
    session: aiohttp.ClientSession,
    adapter: ProviderAdapter,
    target: RouteTarget,
    spec: EndpointSpec,
    request: ParsedRequest,
    send: Send,
    headers: list[Header],
    retries: int,
    restore: ReplyRestore | None = None,
) -> tuple[int, int]:
    """Relay the answer to the client; returns the (prompt, completion) tokens to charge.
    `restore` puts tokenized PII back (gateway.pii_restore)."""
    status, raw = await fetch(session, adapter.build_call(target, spec, request), retries)
    if status >= 400:
        raise upstream_refusal(adapter, status, raw)
    try:
        reply = adapter.parse_reply(spec, raw)
    except UpstreamGarbage as exc:
        raise upstream_error(f"The provider's answer could not be read: {exc}") from None
    body = reply.body if restore is None else restore.reply(reply.body)
    await send_bytes(send, 200, body, [JSON_TYPE, *headers])
    return tokens_to_charge(request, reply.usage, reply.output_bytes)
