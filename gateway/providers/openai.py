"""OpenAI and the OpenAI-compatible family (Mistral, DeepSeek, Groq, Together,
Fireworks, BYO endpoints, LM Studio).

`base_url` includes `/v1`, as the OpenAI SDK takes it. Streams always ask for
usage (`stream_options.include_usage`); when the client did not ask, the
usage-only final chunk is dropped so the client sees what it asked for. OpenAI
clients are relayed as is; Anthropic and Gemini clients (chat only) are
translated both ways.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.answers import (
    canonical_reply,
    error_parts,
    load_object,
    native_reply,
    output_bytes,
    usage_of,
)
from gateway.providers.base import Reply, StreamDecoder, UpstreamCall, UpstreamGarbage, Usage
from gateway.providers.stream import SseEvents, TranslatedStream
from gateway.responses import error_body
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.sse import DONE, EventSplitter, data_of
from gateway.translate.clients import OPENAI, canonical_request, stream_encoder
from gateway.translate.openai_stream import OpenAIChunks
from governance.snapshot import RouteTarget

__all__ = ["OpenAIAdapter", "OpenAIStream", "output_bytes", "usage_of"]

_PATHS = {"chat": "/chat/completions", "completion": "/completions", "embedding": "/embeddings"}


class OpenAIStream:
    """Decodes an OpenAI SSE stream for an OpenAI client: usage and text length."""

    __slots__ = ("_drop_usage_chunk", "_splitter", "complete", "output_bytes", "usage")

    def __init__(self, *, drop_usage_chunk: bool) -> None:
        self._splitter = EventSplitter()
        self._drop_usage_chunk = drop_usage_chunk
        self.usage: Usage | None = None
        self.output_bytes = 0
        self.complete = False

    def _keep(self, event: bytes) -> bool:
        data = data_of(event)
        if data is None:
            return True
        if data == DONE:
            self.complete = True
            return True
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamGarbage("unreadable stream event") from None
        if not isinstance(obj, dict):
            raise UpstreamGarbage("stream event is not an object")
        self.output_bytes += output_bytes(obj)
        usage = usage_of(obj)
        if usage is not None:
            self.usage = usage
            return not (self._drop_usage_chunk and not obj.get("choices"))
        return True

    def _emit(self, events: list[bytes]) -> bytes:
        kept = [e for e in events if self._keep(e)]
        return kept[0] if len(kept) == 1 else b"".join(kept)

    def feed(self, chunk: bytes) -> bytes:
        return self._emit(self._splitter.feed(chunk))

    def finish(self) -> bytes:
        rest = self._splitter.rest()
        return self._emit([rest]) if rest else b""

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        body = error_body(status=502, code=code, message=message, request_id=request_id)
        return b"data: " + body + b"\n\n"


class OpenAIAdapter:
    kinds = ("openai", "openai_compatible", "lmstudio")

    def supports(self, spec: EndpointSpec) -> bool:
        return spec.client_format == OPENAI or spec.kind == "chat"

    def _body(self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest) -> bytes:
        native = spec.client_format == OPENAI
        if native and not request.stream and target.upstream_model == request.model:
            return request.raw  # nothing to change: forwarded byte for byte
        body: dict[str, Any] = dict(request.body if native else canonical_request(spec, request))
        body["model"] = target.upstream_model
        if request.stream:
            options = body.get("stream_options") or {}
            body["stream_options"] = {**options, "include_usage": True}
        return orjson.dumps(body)

    def build_call(
        self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest
    ) -> UpstreamCall:
        headers = {"Content-Type": "application/json"}
        if target.credential:
            headers["Authorization"] = f"Bearer {target.credential}"
        if request.stream:
            headers["Accept"] = "text/event-stream"
        url = target.base_url + _PATHS[spec.kind]
        return UpstreamCall(url=url, headers=headers, body=self._body(target, spec, request))

    def parse_reply(self, spec: EndpointSpec, raw: bytes) -> Reply:
        obj = load_object(raw)
        if spec.client_format != OPENAI:
            return canonical_reply(spec, obj, str(obj.get("model", "")))
        return native_reply(raw, obj)

    def stream_decoder(self, spec: EndpointSpec, request: ParsedRequest) -> StreamDecoder:
        if spec.client_format == OPENAI:
            return OpenAIStream(drop_usage_chunk=not request.client_wants_usage)
        return TranslatedStream(SseEvents(), OpenAIChunks(), stream_encoder(spec, request))

    def error_from(self, status: int, raw: bytes) -> tuple[str, str]:
        return error_parts(status, raw, "code", "type")
