"""The DuckDB sink: every field round-trips, re-runs append only what is new."""

from __future__ import annotations

import json

import duckdb
import pytest

from audit.chain import GENESIS_HASH, event_hash
from audit.exporters.duckdb_sink import export_to_duckdb
from audit.exporters.rows import EXPORT_FIELDS, event_row, iso_utc
from audit.models import AuditEvent
from audit.services import record_admin_action, record_event

pytestmark = pytest.mark.django_db


def _rich_events(dev, key_prefix: str = "ck-AbCdEfGhIj") -> None:
    record_event(
        kind="llm_request",
        action="chat.completions",
        decision="allowed",
        actor=dev,
        tenant=dev.tenant,
        request_id="req-0001",
        ip="203.0.113.9",
        key_prefix=key_prefix,
        model="gpt-4o-mini",
        provider="openai",
        prompt_tokens=1234,
        completion_tokens=567,
        cost_usd="0.001234",
        latency_ms=812.625,
        data={"stream": True, "pii": {"EMAIL": 2}, "note": "naïve “quotes”, new\nline"},
    )
    record_event(
        kind="llm_request",
        action="chat.completions",
        decision="refused",
        reason="budget_exceeded",
        actor=dev,
        tenant=dev.tenant,
        request_id="req-0002",
        model="claude-sonnet-4-5",
    )
    record_admin_action(
        actor=dev,
        action="tenant.update",
        target=dev.tenant,
        tenant=dev.tenant,
        changes={"daily_cap_usd": {"before": None, "after": "150.000000"}},
    )


def _read(path, table: str = "audit_events") -> list[dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(f"SELECT {', '.join(EXPORT_FIELDS)} FROM {table} ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()


def _as_export(row: dict) -> dict:
    """A row read from DuckDB, in event_row's shape."""
    return {
        **row,
        "created_at": iso_utc(row["created_at"]),
        "cost_usd": f"{row['cost_usd']:f}",
        "changes": json.loads(row["changes"]),
        "data": json.loads(row["data"]),
    }


def test_every_field_round_trips_and_the_chain_verifies_from_the_file(tmp_path, dev_a):
    _rich_events(dev_a)
    path = tmp_path / "audit.duckdb"

    exported = export_to_duckdb(path)

    events = list(AuditEvent.objects.order_by("id"))
    assert exported == len(events) >= 3
    rows = _read(path)
    assert [_as_export(row) for row in rows] == [event_row(e) for e in events]
    # The file alone is enough to re-check the hash chain.
    prev = GENESIS_HASH
    for row in rows:
        assert row["prev_hash"] == prev
        sealed = {**row, "changes": json.loads(row["changes"]), "data": json.loads(row["data"])}
        assert event_hash(prev, sealed) == row["hash"]
        prev = row["hash"]


def test_rerun_appends_only_new_events(tmp_path, dev_a):
    path = tmp_path / "audit.duckdb"
    _rich_events(dev_a)
    first = export_to_duckdb(path, batch_size=2)  # several batches
    assert first == AuditEvent.objects.count()

    assert export_to_duckdb(path) == 0
    assert len(_read(path)) == first

    record_event(kind="auth", action="login", actor=dev_a, tenant=dev_a.tenant)
    assert export_to_duckdb(path) == 1
    rows = _read(path)
    assert len(rows) == first + 1
    assert [r["id"] for r in rows] == list(
        AuditEvent.objects.order_by("id").values_list("id", flat=True)
    )


def test_a_new_file_or_table_starts_from_the_beginning(tmp_path, dev_a):
    _rich_events(dev_a)
    total = AuditEvent.objects.count()
    assert export_to_duckdb(tmp_path / "a.duckdb") == total
    assert export_to_duckdb(tmp_path / "a.duckdb", table="trail_copy") == total
    assert len(_read(tmp_path / "a.duckdb", "trail_copy")) == total
    assert export_to_duckdb(tmp_path / "b.duckdb") == total


def test_table_name_must_be_a_plain_identifier(tmp_path, db):
    with pytest.raises(ValueError, match="plain table name"):
        export_to_duckdb(tmp_path / "x.duckdb", table="t; DROP TABLE x")
