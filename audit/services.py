"""Appending to and verifying the audit chain.

Appends are serialised with a database lock (a PostgreSQL advisory lock; SQLite
serialises writers already) so parallel writers never fork the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, HASHED_FIELDS, event_hash
from audit.constants import EventKind
from audit.models import AuditEvent
from candela.request_context import current_request_meta

CHAIN_LOCK_ID = 0x63616E64  # "cand"


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])


def _last_hash() -> str:
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    return last or GENESIS_HASH


def _decimalise(fields: dict[str, Any]) -> dict[str, Any]:
    cost = fields.get("cost_usd")
    if cost is not None and not isinstance(cost, Decimal):
        fields["cost_usd"] = Decimal(str(cost))
    if isinstance(fields.get("cost_usd"), Decimal):
        fields["cost_usd"] = fields["cost_usd"].quantize(Decimal("0.000001"))
    fields.setdefault("created_at", timezone.now())
    return fields


def append_events(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append events (dicts of AuditEvent fields) to the chain, in order, atomically."""
    with transaction.atomic():
        _lock_chain()
        prev = _last_hash()
        rows = []
        for fields in events:
            row = AuditEvent(**_decimalise(dict(fields)), prev_hash=prev)
            # Hash the row as it will be stored (model defaults filled in), which is what
            # verify_chain reads back; hashing the sparse input dict would not match.
            row.hash = event_hash(prev, {name: getattr(row, name) for name in HASHED_FIELDS})
            rows.append(row)
            prev = row.hash
        return AuditEvent.objects.bulk_create(rows)


def record_event(*, kind: str, action: str, actor=None, tenant=None, **fields: Any) -> AuditEvent:
    """Record one event; actor/tenant are snapshotted, request meta filled in."""
    meta = current_request_meta()
    fields.setdefault("request_id", meta.request_id)
    fields.setdefault("ip", meta.ip)
    if actor is not None:
        fields.setdefault("actor_id", actor.pk)
        fields.setdefault("actor_name", actor.get_username())
    if tenant is not None:
        fields.setdefault("tenant_id", tenant.pk)
        fields.setdefault("tenant_slug", tenant.slug)
    return append_events([{"kind": kind, "action": action, **fields}])[0]


def record_admin_action(
    *, actor, action: str, target, changes: dict[str, Any] | None = None, tenant=None
) -> AuditEvent:
    return record_event(
        kind=EventKind.ADMIN_ACTION,
        action=action,
        actor=actor,
        tenant=tenant,
        target_type=type(target)._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        changes=changes or {},
    )


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad: int | None
    problem: str = ""


def verify_chain(batch_size: int = 5000) -> ChainReport:
    """Recompute every hash in id order; name the first event that does not fit."""
    prev = GENESIS_HASH
    count = 0
    fields = [f.name for f in AuditEvent._meta.fields]
    for event in AuditEvent.objects.order_by("id").values(*fields).iterator(batch_size):
        count += 1
        if event["prev_hash"] != prev:
            return ChainReport(False, count, event["id"], "previous hash does not match")
        if event_hash(prev, event) != event["hash"]:
            return ChainReport(False, count, event["id"], "content does not match its hash")
        prev = event["hash"]
    return ChainReport(True, count, None)
