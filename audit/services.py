"""Appending to and verifying the audit chain.

Appends are serialised with a database lock (a PostgreSQL advisory lock; SQLite
serialises writers already) so parallel writers never fork the chain.

Two ways in: `append_events` returns the saved model instances (admin actions,
one event at a time); `append_batch` is the gateway recorder's bulk path, which
builds plain rows and writes them with one COPY on PostgreSQL, with no model
instances, for a fraction of the CPU. Both hash exactly what `verify_chain`
reads back.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, event_hash
from audit.constants import EventKind
from audit.models import AuditEvent
from candela.request_context import current_request_meta

CHAIN_LOCK_ID = 0x63616E64  # "cand"
_MICRO = Decimal("0.000001")
_FIELDS = tuple(f for f in AuditEvent._meta.concrete_fields if not f.primary_key)
_NAMES = frozenset(f.attname for f in _FIELDS)
_JSON = frozenset(f.attname for f in _FIELDS if f.get_internal_type() == "JSONField")
_SEALS = ("prev_hash", "hash")  # filled in here, never by the caller


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])


def _last_hash() -> str:
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    return last or GENESIS_HASH


def _created_at(value: Any) -> datetime:
    """As the database gives it back: an aware datetime in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.utcoffset() == UTC.utcoffset(None) else value.astimezone(UTC)


def _defaults() -> dict[str, Any]:
    return {f.attname: f.get_default() for f in _FIELDS if f.attname not in _SEALS}


def _stored(fields: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The event as it will be stored (defaults filled in, money and time normalised)."""
    if not _NAMES.issuperset(fields):
        unknown = ", ".join(sorted(fields.keys() - _NAMES))
        raise TypeError(f"AuditEvent has no field(s) {unknown}")
    row = {**defaults, **fields}
    created = row["created_at"]
    row["created_at"] = _created_at(created) if created is not None else timezone.now()
    cost = row["cost_usd"]
    if cost is not None:
        if not isinstance(cost, Decimal):
            cost = Decimal(cost if isinstance(cost, str) else str(cost))
        row["cost_usd"] = cost.quantize(_MICRO)
    return row


def _sealed(events: list[dict[str, Any]], *, shared: bool) -> list[dict[str, Any]]:
    """Rows chained onto the last stored event; call with the chain locked. `shared`: one
    set of defaults (one `{}` per JSON field) for every row, for rows that are not kept."""
    defaults = _defaults()
    prev = _last_hash()
    rows = []
    for fields in events:
        row = _stored(fields, defaults if shared else _defaults())
        row["prev_hash"] = prev
        row["hash"] = prev = event_hash(prev, row)
        rows.append(row)
    return rows


def append_events(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append events (dicts of AuditEvent fields) to the chain, in order, atomically."""
    with transaction.atomic():
        _lock_chain()
        return AuditEvent.objects.bulk_create(
            [AuditEvent(**row) for row in _sealed(events, shared=False)]
        )


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _copy(rows: list[dict[str, Any]]) -> None:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _FIELDS)
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    values = operator.itemgetter(*(f.attname for f in _FIELDS))
    # The raw psycopg cursor's errors become Django's (DataError, OperationalError, ...), as
    # the ORM's would: callers tell refused data from a database that is down by them.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            for name in _JSON:
                row[name] = _json_text(row[name])
            copy.write_row(values(row))


def append_batch(events: list[dict[str, Any]]) -> None:
    """`append_events` without returning instances: one COPY on PostgreSQL."""
    if not events:
        return
    with transaction.atomic():
        _lock_chain()
        rows = _sealed(events, shared=True)
        if connection.vendor == "postgresql":
            _copy(rows)
        else:
            AuditEvent.objects.bulk_create([AuditEvent(**row) for row in rows])


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
