"""Stream the audit trail into a BigQuery table with the official client (insertAll).

Exactly-once in practice: every row carries its event hash as insertId, so BigQuery drops a
row it has already seen (a retried request), and a watermark in our database (the last
exported id, advanced after each accepted batch) keeps a re-run from sending old rows at all.
A batch with any rejected row raises before the watermark moves; the next run sends that
batch again under the same insertIds.
"""

from __future__ import annotations

from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from audit.exporters.rows import EXPORT_FIELDS, event_batches, flat_row
from audit.models import ExportWatermark

# BigQuery's advice for insertAll: up to 500 rows per request.
DEFAULT_BATCH = 500
# The client retries 5xx/429 on its own; bound it so a down API fails the run in time
# for the next scheduled one rather than holding a worker for ten minutes.
INSERT_RETRY = Retry(deadline=60)

_TYPES = {
    "id": "INT64",
    "created_at": "TIMESTAMP",
    "tenant_id": "INT64",
    "actor_id": "INT64",
    "prompt_tokens": "INT64",
    "completion_tokens": "INT64",
    "cost_usd": "NUMERIC",
    "latency_ms": "FLOAT64",
    "changes": "JSON",
    "data": "JSON",
}
REQUIRED = frozenset({"id", "created_at", "kind", "action", "prev_hash", "hash"})
SCHEMA = [
    bigquery.SchemaField(
        name, _TYPES.get(name, "STRING"), mode="REQUIRED" if name in REQUIRED else "NULLABLE"
    )
    for name in EXPORT_FIELDS
]


class BigQueryInsertFailed(Exception):
    """BigQuery rejected rows of a batch; nothing after the previous batch is marked done."""

    def __init__(self, errors: list[dict]) -> None:
        self.errors = errors
        super().__init__(f"BigQuery rejected {len(errors)} row(s): {errors[:3]}")


def build_client(project: str, *, endpoint: str = "") -> bigquery.Client:
    """The client for `project`: Application Default Credentials against Google's API,
    or, when `endpoint` is given (an emulator or a test server), that URL, anonymously."""
    if endpoint:
        return bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    return bigquery.Client(project=project)


def ensure_table(client: bigquery.Client, table_id: str) -> None:
    """Create the table (day-partitioned on created_at) unless it exists; the dataset must."""
    table = bigquery.Table(table_id, schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(field="created_at")
    client.create_table(table, exists_ok=True)


def sink_name(table_id: str) -> str:
    return f"bigquery:{table_id}"


def export_to_bigquery(
    *, client: bigquery.Client, table_id: str, batch_size: int = DEFAULT_BATCH
) -> int:
    """Send events after this table's watermark; returns how many rows were accepted."""
    ensure_table(client, table_id)
    watermark, _ = ExportWatermark.objects.get_or_create(sink=sink_name(table_id))
    exported = 0
    for rows in event_batches(after_id=watermark.last_id, batch_size=batch_size):
        errors = client.insert_rows_json(
            table_id,
            [flat_row(row) for row in rows],
            row_ids=[row["hash"] for row in rows],
            retry=INSERT_RETRY,
        )
        if errors:
            raise BigQueryInsertFailed(errors)
        watermark.last_id = rows[-1]["id"]
        watermark.save(update_fields=["last_id", "updated_at"])
        exported += len(rows)
    return exported
