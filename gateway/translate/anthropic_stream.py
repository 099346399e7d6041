"""Anthropic Messages streams ⇄ OpenAI chat chunks, event by event.

`AnthropicChunks` reads a provider's Anthropic events and yields canonical
chunks; `AnthropicEncoder` writes canonical chunks as Anthropic events for an
Anthropic client (message_start, content blocks opened and closed as text and
tool calls alternate, message_delta with the stop reason and the final usage,
message_stop). Input tokens are only known at the end when the provider is not
Anthropic, so message_start says 0 and message_delta carries the real count.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import STATUS
from gateway.providers.base import UpstreamGarbage
from gateway.translate.anthropic_reply import (
    FINISH_TO_ANTHROPIC,
    STOP_TO_OPENAI,
    usage_to_openai,
)
from gateway.translate.content import STOP, ChunkMaker

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_object(*, status: int, code: str, message: str, request_id: str) -> dict[str, Any]:
    """Anthropic's error shape, plus Candela's code and request id."""
    return {
        "type": "error",
        "error": {"type": error_type(status), "message": message, "code": code},
        "request_id": request_id,
    }


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class AnthropicChunks:
    """Provider side: Anthropic events → canonical chunks."""

    __slots__ = ("_chunks", "_tools", "_usage", "complete")

    def __init__(self) -> None:
        self._chunks = ChunkMaker()
        self._tools: dict[int, int] = {}  # content block index → tool call index
        self._usage: dict[str, Any] = {}
        self.complete = False

    @property
    def usage(self) -> dict[str, int] | None:
        return usage_to_openai(self._usage)

    def convert(self, obj: Any) -> list[dict[str, Any]]:
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type")
        make = self._chunks
        if kind == "message_start":
            message = obj.get("message") or {}
            make.id, make.model = f"chatcmpl-{message.get('id', '')}", str(message.get("model", ""))
            self._usage.update(message.get("usage") or {})
            return [make.chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tools[obj.get("index", 0)] = len(self._tools)
                call = {"index": index, "id": block.get("id", ""), "type": "function"}
                call["function"] = {"name": block.get("name", ""), "arguments": ""}
                return [make.chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [make.chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [make.chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta":
                index = self._tools.get(obj.get("index", 0), 0)
                piece = {"index": index, "function": {"arguments": delta.get("partial_json", "")}}
                return [make.chunk({"tool_calls": [piece]})]
            return []
        if kind == "message_delta":
            self._usage.update({k: v for k, v in (obj.get("usage") or {}).items() if v is not None})
            reason = (obj.get("delta") or {}).get("stop_reason")
            return [make.chunk({}, STOP_TO_OPENAI.get(reason, STOP))] if reason else []
        if kind == "message_stop":
            self.complete = True
        elif kind == "error":
            error = obj.get("error") or {}
            raise UpstreamGarbage(f"the provider reported {error.get('type', 'an error')}")
        return []


class AnthropicEncoder:
    """Client side: canonical chunks → Anthropic events."""

    __slots__ = ("_block", "_id", "_index", "_model", "_started", "_stop", "_usage")

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = ""
        self._started = False
        self._block: tuple[str, int] | None = None  # ("text", 0) or ("tool", tool index)
        self._index = -1  # the open content block's index
        self._stop = "end_turn"
        self._usage: dict[str, int] = {}

    def _start(self, chunk: dict[str, Any]) -> bytes:
        self._started = True
        self._id = f"msg_{chunk.get('id', '')}"
        message = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        self._block = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _open(self, block: tuple[str, int], content_block: dict[str, Any]) -> bytes:
        out = self._close()
        self._block, self._index = block, self._index + 1
        start = {"type": "content_block_start", "index": self._index}
        return out + event("content_block_start", {**start, "content_block": content_block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return event("content_block_delta", payload)

    def _tool(self, call: dict[str, Any]) -> bytes:
        out = b""
        function = call.get("function") or {}
        key = ("tool", call.get("index", 0))
        if self._block != key:
            block = {"type": "tool_use", "id": call.get("id") or f"toolu_{key[1]}", "input": {}}
            out += self._open(key, {**block, "name": function.get("name", "")})
        if function.get("arguments"):
            delta = {"type": "input_json_delta", "partial_json": function["arguments"]}
            out += self._delta(delta)
        return out

    def encode(self, chunk: dict[str, Any]) -> bytes:
        out = b"" if self._started else self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # an Anthropic message has one answer
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self._block != ("text", 0):
                    out += self._open(("text", 0), {"type": "text", "text": ""})
                out += self._delta({"type": "text_delta", "text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                out += self._tool(call)
            if choice.get("finish_reason"):
                self._stop = FINISH_TO_ANTHROPIC.get(choice["finish_reason"], "end_turn")
        return out

    def end(self) -> bytes:
        out = (b"" if self._started else self._start({})) + self._close()
        usage = {"output_tokens": self._usage.get("completion_tokens", 0)}
        if "prompt_tokens" in self._usage:
            usage["input_tokens"] = self._usage["prompt_tokens"]
        delta = {"stop_reason": self._stop, "stop_sequence": None}
        out += event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + event("message_stop", {"type": "message_stop"})

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        status = STATUS.get(code, 502)
        payload = error_object(status=status, code=code, message=message, request_id=request_id)
        return event("error", payload)
