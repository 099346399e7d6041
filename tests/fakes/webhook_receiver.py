"""A local Slack/Teams incoming-webhook receiver for alert tests.

Runs `http.server` on 127.0.0.1 in a daemon thread. Every POST is recorded with its path
and JSON body; `fail_next(n, status, path=…)` makes the next n deliveries (to that path) fail (e.g. 500) so the
sender's retries can be observed. `accepted` holds only the deliveries answered 200.

    with WebhookReceiver() as hooks:
        url = hooks.url("/slack/T000/B000")
        ...
        hooks.wait_for_accepted(2)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    body: Any
    status: int
    content_type: str


class WebhookReceiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._failures: list[tuple[str, int]] = []  # (path prefix, status), in order
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                status = receiver._record(self.path, body, self.headers.get("Content-Type", ""))
                reply = b"ok" if status == 200 else b"server_error"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _record(self, path: str, body: Any, content_type: str) -> int:
        with self._changed:
            status = 200
            for i, (prefix, failure) in enumerate(self._failures):
                if path.startswith(prefix):
                    status = failure
                    del self._failures[i]
                    break
            self.deliveries.append(Delivery(path, body, status, content_type))
            self._changed.notify_all()
            return status

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str = "/hook") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def fail_next(self, count: int = 1, status: int = 500, *, path: str = "") -> None:
        """Answer the next `count` deliveries (to paths starting with `path`) with `status`."""
        with self._changed:
            self._failures.extend([(path, status)] * count)

    @property
    def accepted(self) -> list[Delivery]:
        with self._changed:
            return [d for d in self.deliveries if d.status == 200]

    def wait_for_accepted(self, count: int, timeout: float = 20.0) -> list[Delivery]:
        """Block until at least `count` deliveries were accepted; return them."""
        with self._changed:
            self._changed.wait_for(
                lambda: sum(d.status == 200 for d in self.deliveries) >= count, timeout
            )
        return self.accepted
