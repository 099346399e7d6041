"""One request's outcome as a plain JSON record: its audit event and its ledger row.

Plain JSON so the same record can be written to the database or spooled to disk
and replayed later unchanged. Never contains prompt text or secrets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from audit.constants import EventKind
from gateway.context import RequestContext
from governance.counters.base import nano_to_usd

_MICRO = Decimal("0.000001")
_MAX_TOKENS = 2**31 - 1
_MAX_COST = Decimal("99999999.999999")


def _cut(value: str, length: int) -> str:
    return value[:length]


def _tokens(value: int) -> int:
    return min(max(value, 0), _MAX_TOKENS)


def cost_usd(nano: int) -> Decimal:
    """The ledger's micro-dollar amount, rounded up like the counters round."""
    return min(nano_to_usd(nano).quantize(_MICRO, rounding=ROUND_CEILING), _MAX_COST)


def to_record(ctx: RequestContext) -> dict[str, Any]:
    key, tenant, route = ctx.key, ctx.tenant, ctx.route
    owner = key.owner if key is not None else None
    created_at = datetime.fromtimestamp(ctx.started_at, UTC).isoformat(timespec="microseconds")
    cost = f"{cost_usd(ctx.cost_nano):f}"
    latency = round(ctx.latency_ms, 3)
    common = {
        "request_id": ctx.request_id,
        "created_at": created_at,
        "tenant_id": tenant.id if tenant else None,
        "key_prefix": key.prefix if key else "",
        "model": _cut(ctx.model, 200),
        "provider": _cut(route.provider_name, 64) if route else "",
        "decision": ctx.decision,
        "reason": _cut(ctx.reason, 64),
        "prompt_tokens": _tokens(ctx.prompt_tokens),
        "completion_tokens": _tokens(ctx.completion_tokens),
        "cost_usd": cost,
        "latency_ms": latency,
    }
    event = {
        **common,
        "kind": EventKind.LLM_REQUEST.value,
        "action": ctx.endpoint,
        "tenant_slug": tenant.slug if tenant else "",
        "actor_id": owner.id if owner else None,
        "actor_name": _cut(owner.username, 254) if owner else "",
        "ip": _cut(ctx.client_ip, 64),
        "data": {"endpoint": ctx.endpoint, "stream": ctx.stream, "status": ctx.status},
    }
    usage = {
        **common,
        "user_id": owner.id if owner else None,
        "api_key_id": key.id if key else None,
        "endpoint": ctx.endpoint,
        "status_code": ctx.status,
        "streamed": ctx.stream,
    }
    return {"event": event, "usage": usage}
