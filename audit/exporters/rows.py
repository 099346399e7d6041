"""The one shape an exported audit event takes, for every sink and the JSONL/CSV download.

`event_row` gives JSON-ready values: ids as integers, `created_at` as ISO 8601 UTC with a
trailing Z, `cost_usd` as a decimal string (money never goes through a float), `changes` and
`data` as objects. `flat_row` is the same with `changes`/`data` as compact JSON text, for
columnar sinks and CSV. `event_batches` walks the trail in id order after a watermark.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from audit.chain import HASHED_FIELDS
from audit.models import AuditEvent

EXPORT_FIELDS: tuple[str, ...] = ("id", *HASHED_FIELDS, "prev_hash", "hash")
JSON_FIELDS = frozenset({"changes", "data"})
MONEY_PLACES = Decimal("0.000001")


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_row(event: AuditEvent | Mapping[str, Any]) -> dict[str, Any]:
    """One event as a JSON-ready dict with every field of EXPORT_FIELDS, in that order."""
    get = event.get if isinstance(event, Mapping) else lambda name: getattr(event, name)
    row: dict[str, Any] = {name: get(name) for name in EXPORT_FIELDS}
    row["created_at"] = iso_utc(row["created_at"])
    row["cost_usd"] = f"{Decimal(row['cost_usd']).quantize(MONEY_PLACES):f}"
    row["latency_ms"] = float(row["latency_ms"] or 0)
    for name in JSON_FIELDS:
        row[name] = row[name] if row[name] is not None else {}
    return row


def to_json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def flat_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An `event_row` with `changes` and `data` as JSON text (CSV cells, table columns)."""
    return {
        name: to_json_text(value) if name in JSON_FIELDS else value for name, value in row.items()
    }


def event_batches(
    *, after_id: int = 0, batch_size: int = 1000, tenant_id: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """`event_row` lists in id order for events with id > after_id (keyset pagination).

    With tenant_id, only that tenant's events. Each batch is one short query, so a long
    export never holds a transaction or a server-side cursor open.
    """
    queryset = AuditEvent.objects.order_by("id")
    if tenant_id is not None:
        queryset = queryset.for_tenant(tenant_id)
    last = after_id
    while True:
        batch = list(queryset.filter(id__gt=last).values(*EXPORT_FIELDS)[:batch_size])
        if not batch:
            return
        yield [event_row(values) for values in batch]
        last = batch[-1]["id"]
