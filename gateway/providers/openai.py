"""OpenAI and the OpenAI-compatible family (Mistral, DeepSeek, Groq, LM Studio, …).

`base_url` includes `/v1`, as the OpenAI SDK takes it. Streams always ask for
usage (`stream_options.include_usage`); when the client did not ask, the
usage-only final chunk is dropped so the client sees what it asked for.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.estimate import text_bytes
from gateway.providers.base import Reply, UpstreamCall, UpstreamGarbage, Usage
from gateway.responses import error_body
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.sse import DONE, EventSplitter, data_of
from governance.snapshot import RouteTarget


def usage_of(obj: dict[str, Any]) -> Usage | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens") or 0
    if type(prompt) is not int or type(completion) is not int:
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def _piece_bytes(piece: Any) -> int:
    """Bytes of generated text in one choice (message, delta or completion text)."""
    if not isinstance(piece, dict):
        return 0
    total = 0
    content = piece.get("content")
    if isinstance(content, str):
        total += text_bytes(content)
    for call in piece.get("tool_calls") or ():
        arguments = (
            (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
        )
        if isinstance(arguments, str):
            total += text_bytes(arguments)
    return total


def output_bytes(obj: dict[str, Any]) -> int:
    total = 0
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        text = choice.get("text")
        if isinstance(text, str):
            total += text_bytes(text)
        total += _piece_bytes(choice.get("message")) + _piece_bytes(choice.get("delta"))
    return total


class OpenAIStream:
    """Decodes an OpenAI SSE stream: usage and text length, event by event."""

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

    def build_call(
        self, target: RouteTarget, spec: EndpointSpec, request: ParsedRequest
    ) -> UpstreamCall:
        headers = {"Content-Type": "application/json"}
        if target.credential:
            headers["Authorization"] = f"Bearer {target.credential}"
        body = request.raw
        renamed = target.upstream_model != request.model
        if request.stream or renamed:
            changed = dict(request.body)
            changed["model"] = target.upstream_model
            if request.stream:
                headers["Accept"] = "text/event-stream"
                options = changed.get("stream_options") or {}
                changed["stream_options"] = {**options, "include_usage": True}
            body = orjson.dumps(changed)
        return UpstreamCall(url=target.base_url + spec.upstream_path, headers=headers, body=body)

    def parse_reply(self, spec: EndpointSpec, raw: bytes) -> Reply:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamGarbage("the provider's answer is not valid JSON") from None
        if not isinstance(obj, dict):
            raise UpstreamGarbage("the provider's answer is not a JSON object")
        usage = usage_of(obj)
        return Reply(body=raw, usage=usage, output_bytes=0 if usage else output_bytes(obj))

    def stream_decoder(self, spec: EndpointSpec, request: ParsedRequest) -> OpenAIStream:
        return OpenAIStream(drop_usage_chunk=not request.client_wants_usage)

    def error_from(self, status: int, raw: bytes) -> tuple[str, str]:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        error = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(error, dict):
            code = error.get("code") or error.get("type") or f"upstream_{status}"
            return str(code), str(error.get("message") or "")
        text = raw[:500].decode("utf-8", errors="replace")
        return f"upstream_{status}", text
