"""Time to the first streamed byte: sequential streaming requests on one kept-alive connection.

Two clients time the same thing. The raw-socket client (the verdict's) writes the request
in one write, as wrk does, and reads with the least parsing there is (the end of the head,
then Content-Length or chunked framing), so its own cost is the same for every target and
cancels out of the difference with nginx. The stdlib `http.client` (the figure earlier runs
reported) parses every response header in Python with the email package: a target that
answers with more headers (Candela's request id, provider and x-ratelimit-*) pays for the
client's parsing too, so its "added" figure includes some client time.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from overhead.loadgen import Endpoint, connection_to, request_target

HEAD_END = b"\r\n\r\n"


class _RawConnection:
    """One kept-alive socket speaking just enough HTTP/1.1 for one request at a time."""

    def __init__(self, endpoint: Endpoint) -> None:
        parts = urlsplit(endpoint.url)
        path = request_target(endpoint.url)
        body = endpoint.body(stream=True)
        headers = {"Host": parts.netloc, **endpoint.all_headers(), "Content-Length": len(body)}
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.request = head.encode() + b"\r\n" + body
        self.address = (parts.hostname, parts.port)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connected(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        return self.sock

    def _more(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("the target closed the connection")
        self.buffer += data

    def exchange(self) -> tuple[float, int, bytes]:
        """(ms to the first body byte, status, the whole body decoded)."""
        sock = self._connected()
        started = time.perf_counter()
        sock.sendall(self.request)
        while HEAD_END not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(HEAD_END)
        chunked = b"transfer-encoding: chunked" in head.lower()
        while not self.buffer or (chunked and not self._first_chunk_has_data()):
            self._more()
        elapsed = (time.perf_counter() - started) * 1000
        status = int(head.split(b" ", 2)[1])
        body = self._chunked_body() if chunked else self._sized_body(head)
        if b"\r\nconnection: close" in head.lower():
            self.close()  # the next request opens a new connection, as http.client would
        return elapsed, status, body

    def _first_chunk_has_data(self) -> bool:
        line_end = self.buffer.find(b"\r\n")
        return line_end >= 0 and len(self.buffer) > line_end + 2

    def _sized_body(self, head: bytes) -> bytes:
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def _chunked_body(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._more()
            line, _, rest = self.buffer.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(rest) < size + 2:
                self._more()
                rest = self.buffer.partition(b"\r\n")[2]
            body += rest[:size]
            self.buffer = rest[size + 2 :]
            if size == 0:  # no trailers from these servers: the blank line ended it
                return body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _StdlibConnection:
    def __init__(self, endpoint: Endpoint) -> None:
        self.connection, self.path = connection_to(endpoint.url)
        self.body, self.headers = endpoint.body(stream=True), endpoint.all_headers()

    def exchange(self) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        self.connection.request("POST", self.path, self.body, self.headers)
        response = self.connection.getresponse()
        first = response.read(1)
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, response.status, first + response.read()

    def close(self) -> None:
        self.connection.close()


CLIENTS = {"raw": _RawConnection, "http.client": _StdlibConnection}


def first_byte_ms(
    endpoint: Endpoint, *, count: int, client: str = "raw", warmup: int = 50, limit_s: float = 10.0
) -> list[float]:
    """`count` sequential streaming requests (or as many as fit in `limit_s` for a slow
    target): ms from sending each to the first byte of its body. The `warmup` requests
    before them are not timed (as wrk's runs, they follow a warm-up: a process that sat
    idle answers its first requests from cold caches)."""
    connection = CLIENTS[client](endpoint)
    samples: list[float] = []
    deadline = time.monotonic() + limit_s
    try:
        while len(samples) < warmup + count and time.monotonic() < deadline:
            elapsed, status, body = connection.exchange()
            if status != 200 or b"[DONE]" not in body:
                raise RuntimeError(f"stream answered {status}: {body[:300]!r}")
            samples.append(elapsed)
    finally:
        connection.close()
    return samples[warmup:] or samples  # a target too slow to get past the warm-up: all
