"""Provider-independent pieces of the fake: reply planning, chunking, ids.

A *plan* is the deterministic answer for one request (text or tool call and
token counts). The per-provider ``formats_*`` modules turn a plan into that
provider's JSON body or list of stream frames; they never do I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

TOOL_TRIGGER = "CALL_TOOL"


class ReplySettings(Protocol):
    """The knobs of ``FakeProvider`` that shape answers (read per request)."""

    reply_text: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    stream_chunks: int
    echo_max_chars: int
    tool_arguments: dict[str, Any] | None


@dataclass
class ToolSpec:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromptInfo:
    """What a format module extracted from a request body."""

    model: str
    prompt_text: str  # every piece of prompt text, joined (for token counting)
    last_user_text: str  # text of the last message when it is a user message
    tools: list[ToolSpec] = field(default_factory=list)
    last_is_user: bool = True

    @property
    def wants_tool(self) -> bool:
        return bool(self.tools) and self.last_is_user and TOOL_TRIGGER in self.last_user_text


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


@dataclass
class Plan:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    tool_call: ToolCall | None
    chunks: list[str]  # text (or tool-argument JSON) split for streaming
    seq: int
    created: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


_seq = itertools.count(1)


def count_words(text: str) -> int:
    return max(1, len(text.split()))


def split_chunks(text: str, n: int) -> list[str]:
    """Split ``text`` into at most ``n`` non-empty, nearly equal pieces.

    Pieces concatenate back to ``text``. Empty text gives one empty piece.
    """
    if not text:
        return [""]
    n = max(1, min(n, len(text)))
    size = math.ceil(len(text) / n)
    return [text[i : i + size] for i in range(0, len(text), size)]


def example_arguments(parameters: dict[str, Any]) -> dict[str, Any]:
    """Deterministic arguments that satisfy a (simple) JSON schema."""
    props = parameters.get("properties") or {}
    out: dict[str, Any] = {}
    for name, schema in props.items():
        kind = str((schema or {}).get("type", "string")).lower()
        if isinstance((schema or {}).get("enum"), list) and schema["enum"]:
            out[name] = schema["enum"][0]
        elif kind in ("integer", "number"):
            out[name] = 1
        elif kind == "boolean":
            out[name] = True
        elif kind == "array":
            out[name] = []
        elif kind == "object":
            out[name] = {}
        else:
            out[name] = "test"
    return out


def make_plan(settings: ReplySettings, info: PromptInfo, id_prefix: str = "call_") -> Plan:
    seq = next(_seq)
    tool_call = None
    if info.wants_tool:
        spec = info.tools[0]
        args = (
            dict(settings.tool_arguments)
            if settings.tool_arguments is not None
            else example_arguments(spec.parameters)
        )
        tool_call = ToolCall(id=f"{id_prefix}fake{seq:06d}", name=spec.name, arguments=args)
        text = ""
        stream_source = tool_call.arguments_json
    else:
        if settings.reply_text is not None:
            text = settings.reply_text
        else:
            text = f"echo: {info.last_user_text[: settings.echo_max_chars]}".rstrip()
        stream_source = text
    completion_source = text if tool_call is None else f"{tool_call.name} {stream_source}"
    return Plan(
        model=info.model,
        text=text,
        prompt_tokens=(
            settings.prompt_tokens
            if settings.prompt_tokens is not None
            else count_words(info.prompt_text)
        ),
        completion_tokens=(
            settings.completion_tokens
            if settings.completion_tokens is not None
            else count_words(completion_source)
        ),
        tool_call=tool_call,
        chunks=split_chunks(stream_source, settings.stream_chunks),
        seq=seq,
        created=int(time.time()),
    )


def embedding_vector(text: str, dim: int) -> list[float]:
    """Deterministic unit vector derived from ``text``."""
    raw = b""
    counter = 0
    while len(raw) < dim * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    ints = struct.unpack(f"<{dim}I", raw[: dim * 4])
    vec = [(v / 0xFFFFFFFF) * 2.0 - 1.0 for v in ints]
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [round(x / norm, 6) for x in vec]


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"


def ndjson(data: Any) -> bytes:
    return orjson.dumps(data) + b"\n"


def text_of(content: Any) -> str:
    """Text of a message ``content`` that is a string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return ""
