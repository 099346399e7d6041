"""Append the audit trail to a table in a DuckDB file, for local analytics.

The file carries its own watermark, the highest id in the table, so the file and its
progress can never disagree: a re-run appends only newer events, and an `id` primary key
with INSERT OR IGNORE makes even an overlapping run harmless. Each batch goes in through
DuckDB's NDJSON reader (row-by-row inserts are orders of magnitude slower).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import duckdb
import orjson

from audit.exporters.rows import EXPORT_FIELDS, event_batches, flat_row

DEFAULT_TABLE = "audit_events"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# DuckDB column types, in EXPORT_FIELDS order; changes/data are JSON.
COLUMN_TYPES: dict[str, str] = {
    "id": "BIGINT",
    "created_at": "TIMESTAMPTZ",
    "tenant_id": "BIGINT",
    "actor_id": "BIGINT",
    "prompt_tokens": "BIGINT",
    "completion_tokens": "BIGINT",
    "cost_usd": "DECIMAL(14,6)",
    "latency_ms": "DOUBLE",
    "changes": "JSON",
    "data": "JSON",
}


def _type(name: str) -> str:
    return COLUMN_TYPES.get(name, "VARCHAR")


def _create_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    columns = ", ".join(f"{name} {_type(name)}" for name in EXPORT_FIELDS)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY (id))")


def _insert_batch(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict], spool: Path
) -> None:
    with spool.open("wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(flat_row(row)) + b"\n")
    # JSON columns are read as text and cast on insert, so their text is kept as written.
    read_as = ", ".join(
        f"{name}: '{'VARCHAR' if _type(name) == 'JSON' else _type(name)}'" for name in EXPORT_FIELDS
    )
    con.execute("BEGIN TRANSACTION")
    con.execute(
        f"INSERT OR IGNORE INTO {table} SELECT * FROM read_json(?, "  # noqa: S608
        f"format='newline_delimited', columns={{{read_as}}})",
        [str(spool)],
    )
    con.execute("COMMIT")


def export_to_duckdb(
    path: str | Path, *, table: str = DEFAULT_TABLE, batch_size: int = 5000
) -> int:
    """Append events not yet in `table` of the DuckDB file at `path`; returns how many."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a plain table name: {table!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    fd, spool_name = tempfile.mkstemp(prefix="candela-duckdb-", suffix=".jsonl")
    os.close(fd)
    spool = Path(spool_name)
    try:
        con.execute("SET TimeZone = 'UTC'")
        _create_table(con, table)
        watermark = con.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # noqa: S608
        exported = 0
        for rows in event_batches(after_id=int(watermark), batch_size=batch_size):
            _insert_batch(con, table, rows, spool)
            exported += len(rows)
        return exported
    finally:
        spool.unlink(missing_ok=True)
        con.close()
