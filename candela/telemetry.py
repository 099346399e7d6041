"""OpenTelemetry spans for gateway requests, fail-open.

Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the OTLP/HTTP base URL, e.g.
`http://collector:4318`; spans go to `<base>/v1/traces`) and a no-op otherwise. Ending a
span only appends it to a bounded in-memory queue; a BatchSpanProcessor thread exports
batches in the background. An exporter that is down, slow or refusing costs the request
nothing: its batches fail (or time out) on that thread, and when the queue is full new
spans are dropped rather than waited for.

The gateway builds one `RequestTracer` (no module state needed) and wraps each request:

    with tracer.span("POST /v1/chat/completions", {"candela.tenant_id": 7},
                     traceparent=headers.get("traceparent")) as span:
        ...
        if span is not None:
            span.set_attribute("candela.decision", "allowed")

`start_request_span(name, attributes)` does the same with a process-wide tracer.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE_NAME = "candela-gateway"
# Bounds on what tracing may hold or wait for; none of them is on the request path.
MAX_QUEUE = 4096
BATCH_SIZE = 512
SCHEDULE_DELAY_MS = 1000
EXPORT_TIMEOUT_S = 3.0
_ATTRIBUTE_TYPES = (str, bool, int, float)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a base endpoint, as the OTEL_* variables define it."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenTelemetry takes str/bool/int/float values; others become text, None is dropped."""
    return {
        key: value if isinstance(value, _ATTRIBUTE_TYPES) else str(value)
        for key, value in (attributes or {}).items()
        if value is not None
    }


class RequestTracer:
    """Spans for requests; disabled (every span a no-op yielding None) without an exporter."""

    def __init__(
        self,
        endpoint: str = "",
        *,
        exporter: SpanExporter | None = None,
        service_name: str = SERVICE_NAME,
        max_queue_size: int = MAX_QUEUE,
    ) -> None:
        self._provider: TracerProvider | None = None
        if exporter is None and endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=traces_url(endpoint), timeout=EXPORT_TIMEOUT_S)
        if exporter is None:
            self._tracer = None
            return
        # A private provider, not the global one: libraries that trace through the global
        # API (e.g. google-cloud-bigquery) are not exported by accident.
        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self._provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=max_queue_size,
                max_export_batch_size=min(BATCH_SIZE, max_queue_size),
                schedule_delay_millis=SCHEDULE_DELAY_MS,
                export_timeout_millis=EXPORT_TIMEOUT_S * 1000,
            )
        )
        self._tracer = self._provider.get_tracer("candela.gateway")
        self._propagator = TraceContextTextMapPropagator()

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        traceparent: str | None = None,
    ) -> contextlib.AbstractContextManager[Span | None]:
        """A server span for one request, continuing the caller's W3C trace when given."""
        if self._tracer is None:
            return contextlib.nullcontext()
        parent: Context | None = None
        if traceparent:
            parent = self._propagator.extract({"traceparent": traceparent})
        return self._tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=_clean(attributes)
        )

    def force_flush(self, timeout_s: float = EXPORT_TIMEOUT_S) -> bool:
        """Export what is queued, waiting at most timeout_s; False if it did not all go."""
        if self._provider is None:
            return True
        return self._provider.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Flush (bounded by the export timeout) and stop the export thread."""
        if self._provider is not None:
            self._provider.shutdown()


def build_tracer() -> RequestTracer:
    from django.conf import settings

    return RequestTracer(settings.CANDELA_OTEL_ENDPOINT)


@functools.lru_cache(maxsize=1)
def default_tracer() -> RequestTracer:
    return build_tracer()


def start_request_span(
    name: str, attributes: Mapping[str, Any] | None = None, *, traceparent: str | None = None
) -> contextlib.AbstractContextManager[Span | None]:
    """`RequestTracer.span` on the process-wide tracer built from settings."""
    return default_tracer().span(name, attributes, traceparent=traceparent)
