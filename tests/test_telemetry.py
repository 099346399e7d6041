"""Request spans: exported in the background when a collector is up, never blocking when not."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from candela.telemetry import RequestTracer, traces_url

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class Collector:
    """An OTLP/HTTP collector on 127.0.0.1 that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                collector.paths.append(self.path)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        collector.spans.extend(scope_spans.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    server = Collector()
    yield server
    server.close()


def test_no_endpoint_means_no_tracing():
    tracer = RequestTracer("")
    assert not tracer.enabled
    with tracer.span("POST /v1/chat/completions", {"candela.tenant_id": 1}) as span:
        assert span is None
    assert tracer.force_flush()


def test_spans_reach_the_collector_with_attributes_and_the_callers_trace(collector):
    tracer = RequestTracer(collector.url)
    for i in range(20):
        with tracer.span(
            "POST /v1/chat/completions",
            {"candela.tenant_id": 7, "candela.model": "gpt-4o-mini", "candela.key": None, "i": i},
            traceparent=TRACEPARENT,
        ) as span:
            span.set_attribute("candela.decision", "allowed")
    with pytest.raises(RuntimeError), tracer.span("POST /v1/embeddings"):
        raise RuntimeError("upstream exploded")
    assert tracer.force_flush(timeout_s=10)
    tracer.shutdown()

    assert set(collector.paths) == {"/v1/traces"}
    assert len(collector.spans) == 21
    chat = [s for s in collector.spans if s.name == "POST /v1/chat/completions"]
    assert len(chat) == 20
    first = chat[0]
    assert first.trace_id.hex() == TRACE_ID
    assert first.parent_span_id.hex() == PARENT_ID
    attributes = {a.key: a.value for a in first.attributes}
    assert attributes["candela.tenant_id"].int_value == 7
    assert attributes["candela.model"].string_value == "gpt-4o-mini"
    assert attributes["candela.decision"].string_value == "allowed"
    assert "candela.key" not in attributes  # None values are left out
    (failed,) = [s for s in collector.spans if s.name == "POST /v1/embeddings"]
    assert failed.status.code == 2  # STATUS_CODE_ERROR
    assert any(event.name == "exception" for event in failed.events)


def test_a_collector_that_never_answers_blocks_nothing():
    # Accepts TCP connections (the kernel does) but never reads or replies.
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(16)
    url = f"http://127.0.0.1:{black_hole.getsockname()[1]}"
    tracer = RequestTracer(url, max_queue_size=64)
    try:
        finished = 0
        for i in range(200):  # far more than the queue holds: the rest are dropped
            with tracer.span("POST /v1/chat/completions", {"i": i}) as span:
                assert span.is_recording()
            finished += 1
        assert finished == 200
        # The export was attempted, on the processor's thread, against the silent collector.
        black_hole.settimeout(10)
        connection, _ = black_hole.accept()
        connection.close()
        tracer.force_flush(timeout_s=0.2)  # bounded; it returns whether or not it got through
    finally:
        tracer.shutdown()
        black_hole.close()


def test_a_refused_collector_is_only_a_lost_batch():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: connections are refused
    tracer = RequestTracer(f"http://127.0.0.1:{port}")
    try:
        recorded = 0
        for i in range(200):
            with tracer.span("POST /v1/messages", {"i": i}) as span:
                recorded += span.is_recording()
        assert recorded == 200  # every request ran its span; none raised
        tracer.force_flush(timeout_s=2)  # the export fails and the batch is dropped
        with tracer.span("POST /v1/messages") as later:
            assert later.is_recording()  # the tracer goes on after the lost batch
    finally:
        tracer.shutdown()


def test_traces_url():
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"
