"""Gemini streamGenerateContent streams ⇄ OpenAI chat chunks, chunk by chunk.

Gemini sends each function call whole, OpenAI in argument pieces: the encoder
holds a call's pieces until its turn ends (only tool arguments are held; text
goes out as it comes). A Gemini stream has no end marker: it is complete once a
candidate reported its finish reason. Clients get SSE (`?alt=sse`, what the SDKs
ask for) or the streamed JSON array Gemini sends without it.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import STATUS
from gateway.translate.content import ChunkMaker, dumps
from gateway.translate.gemini_reply import (
    FINISH_TO_GEMINI,
    answer_text,
    finish_to_openai,
    function_call_part,
    parts_of,
    usage_from_openai,
    usage_to_openai,
)
from gateway.translate.gemini_request import get

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    422: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_object(*, status: int, code: str, message: str, request_id: str) -> dict[str, Any]:
    """Google's error shape; Candela's code rides in an ErrorInfo detail."""
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": code,
        "domain": "candela",
        "metadata": {"request_id": request_id},
    }
    status_name = _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    error = {"code": status, "message": message, "status": status_name, "details": [detail]}
    return {"error": error}


class GeminiChunks:
    """Provider side: Gemini stream chunks → canonical chunks."""

    __slots__ = ("_calls", "_chunks", "complete", "usage")

    def __init__(self, model: str) -> None:
        self._chunks = ChunkMaker(model=model)
        self._calls = 0
        self.usage: dict[str, int] | None = None
        self.complete = False

    def convert(self, obj: Any) -> list[dict[str, Any]]:
        if not isinstance(obj, dict):
            return []
        make, out = self._chunks, []
        make.id = make.id or f"chatcmpl-{get(obj, 'responseId') or ''}"
        make.model = get(obj, "modelVersion") or make.model
        self.usage = usage_to_openai(get(obj, "usageMetadata")) or self.usage
        for candidate in obj.get("candidates") or ():
            if not isinstance(candidate, dict) or candidate.get("index", 0) != 0:
                continue
            parts = parts_of(candidate)
            text = answer_text(parts)
            if text:
                out.append(make.chunk({"content": text}))
            for part in parts:
                call = get(part, "functionCall")
                if isinstance(call, dict):
                    function = {
                        "name": call.get("name", ""),
                        "arguments": dumps(call.get("args") or {}),
                    }
                    piece = {"index": self._calls, "id": call.get("id") or f"call_{self._calls}"}
                    out.append(
                        make.chunk(
                            {"tool_calls": [{**piece, "type": "function", "function": function}]}
                        )
                    )
                    self._calls += 1
            reason = get(candidate, "finishReason")
            if reason:
                self.complete = True
                out.append(make.chunk({}, finish_to_openai(reason, self._calls > 0)))
        if not obj.get("candidates") and get(obj, "promptFeedback"):
            self.complete = True  # the prompt was blocked: no answer comes
            out.append(make.chunk({}, "content_filter"))
        return out


class GeminiEncoder:
    """Client side: canonical chunks → Gemini stream chunks (SSE or a JSON array)."""

    __slots__ = ("_calls", "_count", "_finish", "_id", "_model", "_sse", "_usage")

    def __init__(self, model: str, *, sse: bool) -> None:
        self._model = model
        self._sse = sse
        self._count = 0
        self._id = ""
        self._finish = "stop"
        self._usage: dict[str, Any] | None = None
        self._calls: dict[int, dict[str, Any]] = {}  # tool call index → {name, arguments}

    def frame(self, obj: dict[str, Any]) -> bytes:
        data = orjson.dumps(obj)
        self._count += 1
        if self._sse:
            return b"data: " + data + b"\r\n\r\n"
        return (b"[" if self._count == 1 else b",\r\n") + data

    def _candidate(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        chunk: dict[str, Any] = {"candidates": [candidate]}
        if finish is not None and (usage := usage_from_openai(self._usage)) is not None:
            chunk["usageMetadata"] = usage
        return self.frame({**chunk, "modelVersion": self._model, "responseId": self._id})

    def encode(self, chunk: dict[str, Any]) -> bytes:
        self._id = self._id or str(chunk.get("id", ""))
        self._model = chunk.get("model") or self._model
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        texts = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                texts.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                held = self._calls.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
                function = call.get("function") or {}
                held["name"] = function.get("name") or held["name"]
                held["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return self._candidate([{"text": "".join(texts)}]) if texts else b""

    def end(self) -> bytes:
        parts = [function_call_part({"function": c}) for _, c in sorted(self._calls.items())]
        out = self._candidate(parts, FINISH_TO_GEMINI.get(self._finish, "STOP"))
        return out if self._sse else out + b"]"

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        status = STATUS.get(code, 502)
        out = self.frame(
            error_object(status=status, code=code, message=message, request_id=request_id)
        )
        return out if self._sse else out + b"]"
