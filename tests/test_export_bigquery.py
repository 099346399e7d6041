"""The BigQuery sink, with the real google-cloud-bigquery client against a local server
that implements the REST calls it makes (tables.insert/get, tabledata.insertAll)."""

from __future__ import annotations

import json

import pytest

from audit.exporters.bigquery_sink import (
    BigQueryInsertFailed,
    build_client,
    export_to_bigquery,
    sink_name,
)
from audit.exporters.rows import EXPORT_FIELDS, event_row
from audit.models import AuditEvent, ExportWatermark
from audit.services import record_admin_action, record_event
from tests.fakes.bigquery_server import FakeBigQuery

pytestmark = pytest.mark.django_db

TABLE = "candela-test.governance.audit_events"


@pytest.fixture
def bigquery():
    with FakeBigQuery() as server:
        client = build_client("candela-test", endpoint=server.url)
        yield server, client
        client.close()


def _events(dev, n: int = 1) -> None:
    for i in range(n):
        record_event(
            kind="llm_request",
            action="chat.completions",
            decision="allowed",
            actor=dev,
            tenant=dev.tenant,
            request_id=f"req-{i}",
            ip="198.51.100.4",
            key_prefix="ck-AbCdEfGhIj",
            model="gpt-4o-mini",
            provider="openai",
            prompt_tokens=100 + i,
            completion_tokens=20,
            cost_usd="0.000123",
            latency_ms=45.5,
            data={"stream": False, "pii": {"SSN": 1}, "text": "ünïcode ✓"},
        )


def _received(server: FakeBigQuery) -> list[dict]:
    """Stored rows back in event_row's shape (JSON columns arrive as JSON text)."""
    rows = []
    for row in server.stored_rows(TABLE):
        rows.append({**row, "changes": json.loads(row["changes"]), "data": json.loads(row["data"])})
    return sorted(rows, key=lambda r: r["id"])


def test_every_field_arrives_with_its_hash_as_insert_id(bigquery, dev_a, operator):
    server, client = bigquery
    _events(dev_a, 2)
    record_admin_action(
        actor=operator,
        action="tenant.update",
        target=dev_a.tenant,
        tenant=dev_a.tenant,
        changes={"daily_cap_usd": {"before": None, "after": "150"}},
    )

    exported = export_to_bigquery(client=client, table_id=TABLE)

    events = list(AuditEvent.objects.order_by("id"))
    assert exported == len(events)
    assert _received(server) == [event_row(e) for e in events]
    (request,) = server.insert_requests
    assert [row["insertId"] for row in request["rows"]] == [e.hash for e in events]
    schema = server.tables[TABLE]["schema"]["fields"]
    assert [f["name"] for f in schema] == list(EXPORT_FIELDS)
    types = {f["name"]: f["type"] for f in schema}
    assert (types["created_at"], types["cost_usd"], types["data"]) == (
        "TIMESTAMP",
        "NUMERIC",
        "JSON",
    )
    assert server.tables[TABLE]["timePartitioning"]["field"] == "created_at"
    watermark = ExportWatermark.objects.get(sink=sink_name(TABLE))
    assert watermark.last_id == events[-1].pk


def test_rerun_sends_nothing_old_and_batches_new_rows(bigquery, dev_a):
    server, client = bigquery
    _events(dev_a, 3)
    first = export_to_bigquery(client=client, table_id=TABLE)
    calls = len(server.insert_requests)

    assert export_to_bigquery(client=client, table_id=TABLE) == 0
    assert len(server.insert_requests) == calls  # not a single row re-sent

    _events(dev_a, 5)
    assert export_to_bigquery(client=client, table_id=TABLE, batch_size=2) == 5
    new_requests = server.insert_requests[calls:]
    assert [len(r["rows"]) for r in new_requests] == [2, 2, 1]
    sent = [row["insertId"] for r in server.insert_requests for row in r["rows"]]
    assert len(sent) == len(set(sent)) == first + 5
    assert len(server.stored_rows(TABLE)) == AuditEvent.objects.count()


def test_rejected_rows_keep_the_watermark_and_the_next_run_sends_them(bigquery, dev_a):
    server, client = bigquery
    _events(dev_a, 5)
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    server.reject_next_insert(1)

    with pytest.raises(BigQueryInsertFailed, match="rejected"):
        export_to_bigquery(client=client, table_id=TABLE)
    assert ExportWatermark.objects.get(sink=sink_name(TABLE)).last_id == 0
    assert server.stored_rows(TABLE) == []

    assert export_to_bigquery(client=client, table_id=TABLE) == len(ids)
    assert sorted(r["id"] for r in server.stored_rows(TABLE)) == ids
    # The same rows were offered twice under the same insertIds: BigQuery keeps one each.
    first, second = (
        [row["insertId"] for row in request["rows"]] for request in server.insert_requests
    )
    assert first == second


def test_a_failure_midway_resends_only_the_failed_batches(bigquery, dev_a):
    server, client = bigquery
    _events(dev_a, 6)
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    export_to_bigquery(client=client, table_id=TABLE, batch_size=len(ids))
    _events(dev_a, 4)
    new_ids = list(
        AuditEvent.objects.filter(id__gt=ids[-1]).order_by("id").values_list("id", flat=True)
    )
    calls = len(server.insert_requests)
    server.reject_next_insert(1, after=1)  # batch 1 accepted, batch 2 rejected

    with pytest.raises(BigQueryInsertFailed):
        export_to_bigquery(client=client, table_id=TABLE, batch_size=2)
    assert ExportWatermark.objects.get(sink=sink_name(TABLE)).last_id == new_ids[1]

    assert export_to_bigquery(client=client, table_id=TABLE, batch_size=2) == 2
    resent = [row["json"]["id"] for r in server.insert_requests[calls + 2 :] for row in r["rows"]]
    assert resent == new_ids[2:]
    assert sorted(r["id"] for r in server.stored_rows(TABLE)) == ids + new_ids


def test_celery_task_reads_the_table_from_settings(bigquery, dev_a, settings):
    from audit.tasks import export_to_bigquery as task

    server, _ = bigquery
    settings.CANDELA_BIGQUERY_TABLE = TABLE
    settings.CANDELA_BIGQUERY_ENDPOINT = server.url
    _events(dev_a, 2)
    assert task() == AuditEvent.objects.count()
    assert task() == 0
    settings.CANDELA_BIGQUERY_TABLE = ""
    assert task() == 0  # not configured: off
