"""Scheduled exports of the audit trail (Celery beat; the embedded runner calls the same).

Each task is a no-op until its sink is configured: CANDELA_DUCKDB_PATH for the DuckDB file,
CANDELA_BIGQUERY_TABLE ("project.dataset.table", optional CANDELA_BIGQUERY_ENDPOINT) for
BigQuery. Both are idempotent, so an overlapping or repeated run sends nothing twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from audit.exporters import bigquery_sink, duckdb_sink

log = logging.getLogger(__name__)


@shared_task
def export_to_duckdb(path: str = "") -> int:
    path = path or settings.CANDELA_DUCKDB_PATH
    if not path:
        return 0
    exported = duckdb_sink.export_to_duckdb(path)
    log.info("audit export: %d event(s) to DuckDB %s", exported, path)
    return exported


@shared_task
def export_to_bigquery(table_id: str = "") -> int:
    table_id = table_id or settings.CANDELA_BIGQUERY_TABLE
    if not table_id:
        return 0
    client = bigquery_sink.build_client(
        table_id.split(".", 1)[0], endpoint=settings.CANDELA_BIGQUERY_ENDPOINT
    )
    try:
        exported = bigquery_sink.export_to_bigquery(client=client, table_id=table_id)
    finally:
        client.close()
    log.info("audit export: %d event(s) to BigQuery %s", exported, table_id)
    return exported
