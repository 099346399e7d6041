"""OpenAI streams as canonical chunks, and canonical chunks for OpenAI clients.

The canonical chunk IS OpenAI's `chat.completion.chunk` (or a legacy completions
chunk), so both directions only deal with the usage-only chunk and the end
marker: `OpenAIChunks` keeps usage aside (it is handed on once, at the end, by
the stream that runs it), `OpenAIEncoder` drops it unless the client asked for
it (`stream_options.include_usage`) and ends with `data: [DONE]`.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import STATUS
from gateway.providers.base import UpstreamGarbage
from gateway.responses import error_body
from gateway.sse import DONE, event

_DONE_EVENT = b"data: [DONE]\n\n"


def usage_of(obj: dict[str, Any]) -> dict[str, int] | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict) or type(usage.get("prompt_tokens")) is not int:
        return None
    prompt, completion = usage["prompt_tokens"], usage.get("completion_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class OpenAIChunks:
    """Provider side: OpenAI chunks (dicts, or the DONE marker) → canonical chunks."""

    __slots__ = ("complete", "usage")

    def __init__(self) -> None:
        self.usage: dict[str, int] | None = None
        self.complete = False

    def convert(self, obj: Any) -> list[dict[str, Any]]:
        if obj is DONE or obj == DONE:
            self.complete = True
            return []
        if not isinstance(obj, dict):
            return []
        if isinstance(obj.get("error"), dict):
            raise UpstreamGarbage(f"the provider reported an error: {obj['error'].get('message')}")
        usage = usage_of(obj)
        if usage is not None:
            self.usage = usage
            if not obj.get("choices"):
                return []
            obj = {k: v for k, v in obj.items() if k != "usage"}
        return [obj]


class OpenAIEncoder:
    """Client side: canonical chunks → OpenAI SSE."""

    __slots__ = ("_wants_usage",)

    def __init__(self, *, wants_usage: bool) -> None:
        self._wants_usage = wants_usage

    def encode(self, chunk: dict[str, Any]) -> bytes:
        if not chunk.get("choices") and chunk.get("usage") is not None and not self._wants_usage:
            return b""
        return event(chunk)

    def end(self) -> bytes:
        return _DONE_EVENT

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        body = error_body(
            status=STATUS.get(code, 502), code=code, message=message, request_id=request_id
        )
        return b"data: " + body + b"\n\n"
