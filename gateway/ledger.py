"""Writing records to the database: the audit chain and the usage ledger together.

On PostgreSQL both go in with COPY from the records' plain values (ISO time and
decimal strings as the records hold them): no model instances, no SQL quoting
in Python. SQLite (embedded mode) uses bulk_create.
"""

from __future__ import annotations

import operator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from audit.services import append_batch
from governance.models import UsageRecord


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    fields = dict(record)
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    fields["cost_usd"] = Decimal(fields["cost_usd"])
    return fields


def already_written(records: list[dict[str, Any]]) -> set[str]:
    """Request ids of `records` the ledger already has (a replay after an unclear commit)."""
    ids = [r["usage"]["request_id"] for r in records]
    return set(UsageRecord.objects.filter(request_id__in=ids).values_list("request_id", flat=True))


_USAGE_FIELDS = tuple(f for f in UsageRecord._meta.concrete_fields if not f.primary_key)


def _copy_usage(rows: list[dict[str, Any]]) -> None:
    """COPY the ledger rows (PostgreSQL): about six times less CPU than an INSERT."""
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _USAGE_FIELDS)
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    defaults = {f.attname: f.get_default() for f in _USAGE_FIELDS}
    values = operator.itemgetter(*defaults)
    with (
        connection.wrap_database_errors,  # Django's error types, as audit.services does
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(values({**defaults, **row}))


def write_records(records: list[dict[str, Any]]) -> None:
    """One transaction: every record's audit event (chained, in order) and ledger row."""
    if not records:
        return
    # A record's alerts (gateway.records) follow its request event in the chain.
    events = [e for r in records for e in (r["event"], *r.get("alerts", ()))]
    with transaction.atomic():
        append_batch(events)
        if connection.vendor == "postgresql":
            _copy_usage([r["usage"] for r in records])
        else:
            UsageRecord.objects.bulk_create([UsageRecord(**_fields(r["usage"])) for r in records])
