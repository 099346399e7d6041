"""Ollama's native API: `base_url` is its root (`http://localhost:11434`).

Chat → `/api/chat`, completions → `/api/generate`, embeddings → `/api/embed`.
No client speaks Ollama's format, so every answer is translated (streams line by
line from NDJSON). `stream` is always sent: Ollama streams by default.
"""

from __future__ import annotations

import orjson

from gateway.providers.answers import canonical_reply, load_object
from gateway.providers.base import Reply, StreamDecoder, UpstreamCall, UpstreamGarbage
from gateway.providers.stream import JsonLines, TranslatedStream
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.translate import ollama
from gateway.translate.clients import canonical_request, stream_encoder
from governance.snapshot import RouteTarget

_PATHS = {"chat": "/api/chat", "completion": "/api/generate", "embedding": "/api/embed"}


class OllamaAdapter:
    kinds = ("ollama",)

    def supports(self, spec: EndpointSpec) -> bool:
        return spec.kind == "chat" or spec.client_format == "openai"

    def build_call(
        self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest
    ) -> UpstreamCall:
        headers = {"Content-Type": "application/json"}
        if target.credential:  # an Ollama behind an authenticating proxy
            headers["Authorization"] = f"Bearer {target.credential}"
        model, stream = target.upstream_model, request.stream
        if spec.kind == "chat":
            canonical = canonical_request(spec, request)
            body = ollama.chat_request(canonical, model=model, stream=stream)
        elif spec.kind == "completion":
            body = ollama.generate_request(request.body, model=model, stream=stream)
        else:
            body = ollama.embed_request(request.body, model=model)
        url = target.base_url + _PATHS[spec.kind]
        return UpstreamCall(url=url, headers=headers, body=orjson.dumps(body))

    def parse_reply(self, spec: EndpointSpec, raw: bytes) -> Reply:
        obj = load_object(raw)
        if spec.kind == "embedding":
            canonical = ollama.embed_reply(obj)
        elif "message" in obj:
            canonical = ollama.chat_reply(obj)
        elif "response" in obj:
            canonical = ollama.generate_reply(obj)
        else:
            raise UpstreamGarbage("the provider's answer has neither message nor response")
        return canonical_reply(spec, canonical, str(obj.get("model", "")))

    def stream_decoder(self, spec: EndpointSpec, request: ParsedRequest) -> StreamDecoder:
        source = ollama.OllamaChunks(generate=spec.kind == "completion")
        return TranslatedStream(JsonLines(), source, stream_encoder(spec, request))

    def error_from(self, status: int, raw: bytes) -> tuple[str, str]:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("error"), str):
            return f"upstream_{status}", obj["error"]
        return f"upstream_{status}", raw[:500].decode("utf-8", errors="replace")
