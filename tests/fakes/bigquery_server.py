"""A local stand-in for the BigQuery REST API, enough for `google-cloud-bigquery`'s
`create_table`, `get_table` and `insert_rows_json` (tables.insert, tables.get,
tabledata.insertAll) against `client_options={"api_endpoint": server.url}`.

Like BigQuery, insertAll de-duplicates rows by insertId. Every insertAll request is kept in
`insert_requests` (duplicates included) so a test can tell what the client actually sent.
`reject_next_insert(n, after=k)` lets k more insertAll calls through, then answers the n after
them with per-row insertErrors.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TABLES = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables$")
_TABLE = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$")
_INSERT = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/insertAll$")


class FakeBigQuery:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}  # "project.dataset.table" → resource
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}  # table → insertId → row
        self.insert_requests: list[dict[str, Any]] = []
        self._rejections = 0
        self._accept_first = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeBigQuery:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reject_next_insert(self, count: int = 1, *, after: int = 0) -> None:
        with self._lock:
            self._rejections, self._accept_first = count, after

    def stored_rows(self, table_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.rows.get(table_id, {}).values())

    # --- the REST calls -------------------------------------------------------------

    def _create_table(self, project: str, dataset: str, body: dict) -> tuple[int, dict]:
        ref = body["tableReference"]
        table_id = f"{project}.{dataset}.{ref['tableId']}"
        if table_id in self.tables:
            return 409, _error(409, f"Already Exists: Table {table_id}", "duplicate")
        resource = {
            **body,
            "kind": "bigquery#table",
            "id": f"{project}:{dataset}.{ref['tableId']}",
            "etag": "etag-1",
            "type": "TABLE",
            "creationTime": "0",
        }
        self.tables[table_id] = resource
        self.rows[table_id] = {}
        return 200, resource

    def _get_table(self, table_id: str) -> tuple[int, dict]:
        if table_id not in self.tables:
            return 404, _error(404, f"Not found: Table {table_id}", "notFound")
        return 200, self.tables[table_id]

    def _insert_all(self, table_id: str, body: dict) -> tuple[int, dict]:
        if table_id not in self.tables:
            return 404, _error(404, f"Not found: Table {table_id}", "notFound")
        self.insert_requests.append({"table": table_id, **body})
        rows = body.get("rows", [])
        if self._accept_first:
            self._accept_first -= 1
        elif self._rejections:
            self._rejections -= 1
            errors = [
                {"index": i, "errors": [{"reason": "backendError", "message": "try again"}]}
                for i in range(len(rows))
            ]
            return 200, {"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": errors}
        stored = self.rows[table_id]
        for row in rows:
            stored.setdefault(row.get("insertId") or f"auto-{len(stored)}", row["json"])
        return 200, {"kind": "bigquery#tableDataInsertAllResponse"}

    def _route(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            if method == "POST" and (m := _TABLES.match(path)):
                return self._create_table(m[1], m[2], body)
            if method == "GET" and (m := _TABLE.match(path)):
                return self._get_table(f"{m[1]}.{m[2]}.{m[3]}")
            if method == "POST" and (m := _INSERT.match(path)):
                return self._insert_all(f"{m[1]}.{m[2]}.{m[3]}", body)
        return 404, _error(404, f"no fake for {method} {path}", "notFound")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else {}
                status, answer = fake._route(method, self.path.split("?", 1)[0], body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _error(code: int, message: str, reason: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"reason": reason, "message": message}],
        }
    }
