"""Streamed JSONL and CSV renderings of audit events, oldest first, one row at a time.

Rows are read in chunks, so an export of millions of events never sits in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.db.models import QuerySet

from audit.models import AuditEvent

FIELDS = [field.name for field in AuditEvent._meta.fields]
CHUNK = 2000
# Spreadsheet apps run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}


def _rows(events: QuerySet[AuditEvent]) -> Iterator[dict[str, Any]]:
    yield from events.order_by("id").values(*FIELDS).iterator(chunk_size=CHUNK)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"cannot export {type(value).__name__}")


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    for row in _rows(events):
        yield orjson.dumps(
            row, default=_json_default, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
        )


class _Line:
    """A file-like sink that hands back what csv.writer wrote."""

    def write(self, text: str) -> str:
        return text


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(FIELDS)
    for row in _rows(events):
        yield writer.writerow([_cell(row[name]) for name in FIELDS])


def export_lines(events: QuerySet[AuditEvent], fmt: str) -> Iterator[bytes] | Iterator[str]:
    return jsonl_lines(events) if fmt == "jsonl" else csv_lines(events)
