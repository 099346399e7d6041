"""API shapes for audit events and chain verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema

from candela.api_types import Money


class AuditEventOut(Schema):
    id: int
    created_at: datetime
    kind: str
    action: str
    decision: str
    reason: str
    request_id: str
    tenant_id: int | None
    tenant_slug: str
    actor_id: int | None
    actor_name: str
    ip: str
    key_prefix: str
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Money
    latency_ms: float
    target_type: str
    target_id: str
    target_repr: str
    changes: dict[str, Any]
    data: dict[str, Any]
    prev_hash: str
    hash: str


class ChainVerdict(Schema):
    ok: bool
    events: int
    first_bad: int | None
    problem: str
