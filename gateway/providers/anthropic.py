"""Anthropic (Messages API): `POST {base_url}/v1/messages`, `base_url` without `/v1`.

Anthropic clients (`/v1/messages`) are relayed natively; OpenAI and Gemini chat
clients are translated both ways. Usage is exact: `input_tokens` plus cache
writes and reads, `output_tokens` (streams: message_start, then message_delta).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.answers import (
    canonical_reply,
    error_parts,
    load_object,
    native_reply,
)
from gateway.providers.base import Reply, StreamDecoder, UpstreamCall, UpstreamGarbage
from gateway.providers.stream import NativeStream, SseEvents, TranslatedStream
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.translate import anthropic_reply, anthropic_request
from gateway.translate.anthropic_stream import AnthropicChunks, AnthropicEncoder
from gateway.translate.clients import ANTHROPIC, canonical_request, stream_encoder
from gateway.translate.content import max_tokens_of
from governance.snapshot import RouteTarget

API_VERSION = "2023-06-01"


class _AsIs:
    """Native relay: Anthropic events go to the Anthropic client unchanged."""

    def __init__(self, model: str) -> None:
        self._errors = AnthropicEncoder(model)

    def frame(self, raw: bytes, obj: Any) -> bytes:
        return raw

    def end(self) -> bytes:
        return b""

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        return self._errors.error_event(code=code, message=message, request_id=request_id)


class AnthropicAdapter:
    kinds = ("anthropic",)

    def supports(self, spec: EndpointSpec) -> bool:
        return spec.kind == "chat"

    def _body(self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest) -> bytes:
        if spec.client_format == ANTHROPIC:
            if target.upstream_model == request.model:
                return request.raw
            return orjson.dumps({**request.body, "model": target.upstream_model})
        canonical = canonical_request(spec, request)
        limit = max_tokens_of(canonical) or request.max_output_tokens
        body = anthropic_request.from_openai(
            canonical, model=target.upstream_model, max_tokens=limit
        )
        if request.stream:
            body["stream"] = True
        return orjson.dumps(body)

    def build_call(
        self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest
    ) -> UpstreamCall:
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        if target.credential:
            headers["x-api-key"] = target.credential
        if request.stream:
            headers["Accept"] = "text/event-stream"
        body = self._body(target, spec, request)
        return UpstreamCall(url=target.base_url + "/v1/messages", headers=headers, body=body)

    def parse_reply(self, spec: EndpointSpec, raw: bytes) -> Reply:
        obj = load_object(raw)
        if obj.get("type") != "message":
            raise UpstreamGarbage("the provider's answer is not a message")
        canonical = anthropic_reply.to_openai(obj)
        if spec.client_format != ANTHROPIC:
            return canonical_reply(spec, canonical, str(obj.get("model", "")))
        return native_reply(raw, canonical)

    def stream_decoder(self, spec: EndpointSpec, request: ParsedRequest) -> StreamDecoder:
        if spec.client_format == ANTHROPIC:
            return NativeStream(SseEvents(), AnthropicChunks(), _AsIs(request.model))
        return TranslatedStream(SseEvents(), AnthropicChunks(), stream_encoder(spec, request))

    def error_from(self, status: int, raw: bytes) -> tuple[str, str]:
        return error_parts(status, raw, "type")
