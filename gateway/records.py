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
# What an alert about a request copies from the request's event.
_ALERT_COPIES = (
    "created_at", "request_id", "tenant_id", "tenant_slug", "actor_id", "actor_name", "ip",
    "key_prefix", "model", "provider",
)  # fmt: skip


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
    if len(ctx.attempts) > 1 or (ctx.attempts and ctx.attempts[0]["outcome"] != "ok"):
        # Routing had to work (a failure, a retry, a skipped route): the trail says how.
        event["data"]["attempts"] = ctx.attempts
    record: dict[str, Any] = {"event": event}
    if ctx.pii is not None:
        # PII types and counts, never values (gateway.pii_policy.PiiOutcome).
        event["data"].update(ctx.pii.audit_data())
        if ctx.pii.residual:
            record["alerts"] = [_residual_alert(event, ctx)]
    usage = {
        **common,
        "user_id": owner.id if owner else None,
        "api_key_id": key.id if key else None,
        "endpoint": ctx.endpoint,
        "status_code": ctx.status,
        "streamed": ctx.stream,
    }
    record["usage"] = usage
    return record


def _residual_alert(event: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """The egress re-scan found what redaction/tokenization missed: an `alert` event."""
    assert ctx.pii is not None and ctx.pii.residual is not None
    blocked = ctx.pii.action == "egress_blocked"
    return {
        **{name: event[name] for name in _ALERT_COPIES},
        "kind": EventKind.ALERT.value,
        "action": "pii.egress_blocked" if blocked else "pii.egress_redacted",
        "decision": ctx.decision,
        "reason": "pii_residual",
        "cost_usd": "0",
        "data": {
            "pii": dict(ctx.pii.residual.pii),
            "secrets": dict(ctx.pii.residual.secrets),
            "pii_mode": ctx.pii.mode,
            "fail_closed": ctx.pii.fail_closed,
        },
    }
