"""Google Gemini (Generative Language API): `base_url` without the version.

`POST {base_url}/v1beta/models/{model}:generateContent`, streams from
`:streamGenerateContent?alt=sse`; the key goes in `x-goog-api-key`. Gemini
clients are relayed natively (re-framed as a JSON array when they did not ask
for SSE); OpenAI and Anthropic chat clients are translated both ways. Usage is
exact: `promptTokenCount`, `candidatesTokenCount` plus `thoughtsTokenCount`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from gateway.providers.answers import (
    canonical_reply,
    error_parts,
    load_object,
    native_reply,
)
from gateway.providers.base import Reply, StreamDecoder, UpstreamCall
from gateway.providers.stream import NativeStream, SseEvents, TranslatedStream
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.translate import gemini_reply, gemini_request
from gateway.translate.clients import GEMINI, canonical_request, stream_encoder
from gateway.translate.content import max_tokens_of
from gateway.translate.gemini_stream import GeminiChunks, GeminiEncoder
from governance.snapshot import RouteTarget

API_VERSION = "v1beta"


class _Frames:
    """Native relay: SSE events as they came, or each chunk as a JSON array element."""

    def __init__(self, model: str, *, sse: bool) -> None:
        self._sse = sse
        self._encoder = GeminiEncoder(model, sse=sse)

    def frame(self, raw: bytes, obj: Any) -> bytes:
        if self._sse or not isinstance(obj, dict):
            return raw if self._sse else b""
        return self._encoder.frame(obj)

    def end(self) -> bytes:
        return b"" if self._sse else b"]"

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        return self._encoder.error_event(code=code, message=message, request_id=request_id)


class GeminiAdapter:
    kinds = ("gemini",)

    def supports(self, spec: EndpointSpec) -> bool:
        return spec.kind == "chat"

    def _body(self, spec: EndpointSpec, request: ParsedRequest) -> bytes:
        if spec.client_format == GEMINI:
            return request.raw
        canonical = canonical_request(spec, request)
        body = gemini_request.from_openai(canonical)
        if max_tokens_of(canonical) is None:
            # Without a limit Gemini may write up to the model's maximum; keep the
            # answer within what the budget gate reserved for.
            config = body.setdefault("generationConfig", {})
            config["maxOutputTokens"] = request.max_output_tokens
        return orjson.dumps(body)

    def build_call(
        self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest
    ) -> UpstreamCall:
        headers = {"Content-Type": "application/json"}
        if target.credential:
            headers["x-goog-api-key"] = target.credential
        model = quote(target.upstream_model, safe="-._~:")
        action = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        url = f"{target.base_url}/{API_VERSION}/models/{model}:{action}"
        return UpstreamCall(url=url, headers=headers, body=self._body(spec, request))

    def parse_reply(self, spec: EndpointSpec, raw: bytes) -> Reply:
        obj = load_object(raw)
        canonical = gemini_reply.to_openai(obj, model="")
        if spec.client_format != GEMINI:
            return canonical_reply(spec, canonical, str(canonical.get("model", "")))
        return native_reply(raw, canonical)

    def stream_decoder(self, spec: EndpointSpec, request: ParsedRequest) -> StreamDecoder:
        source = GeminiChunks(request.model)
        if spec.client_format == GEMINI:
            return NativeStream(SseEvents(), source, _Frames(request.model, sse=spec.sse))
        return TranslatedStream(SseEvents(), source, stream_encoder(spec, request))

    def error_from(self, status: int, raw: bytes) -> tuple[str, str]:
        return error_parts(status, raw, "status")
