"""Message content shared by the translators: texts, images, tool arguments, ids."""

from __future__ import annotations

import time
from typing import Any

import orjson

# Finish reasons of the canonical (OpenAI) format.
STOP, LENGTH, TOOL_CALLS, CONTENT_FILTER = "stop", "length", "tool_calls", "content_filter"


def text_of(content: Any, sep: str = "\n") -> str:
    """The text of an OpenAI message `content`: a string, or the `text` of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text-only parts become one string (what every OpenAI-compatible server takes)."""
    if all(p.get("type") == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:<type>;base64,<data>` URL, else None."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    media, _, encoding = head.partition(";")
    if not sep or encoding != "base64":
        return None
    return media or "application/octet-stream", data


def image_parts(content: Any) -> list[str]:
    """The image URLs of an OpenAI message `content`."""
    if not isinstance(content, list):
        return []
    urls = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str):
                urls.append(url)
    return urls


def arguments_object(arguments: Any) -> dict[str, Any]:
    """A tool call's `arguments` (JSON text) as an object; {} when it is not one."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def append_turn(turns: list[dict[str, Any]], role: str, items: list[Any], key: str) -> None:
    """Add `items` as a turn of `role`, merged into the last turn when it has that role
    (Anthropic and Gemini want user and assistant turns to alternate)."""
    if not items:
        return
    if turns and turns[-1].get("role") == role and isinstance(turns[-1].get(key), list):
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: list(items)})


def declared_functions(body: dict[str, Any], schema_key: str) -> list[dict[str, Any]]:
    """The functions an OpenAI body's `tools` declare, as name, description and JSON
    schema (under `schema_key`, which each provider names its own way)."""
    return [
        {
            "name": fn.get("name"),
            "description": fn.get("description", ""),
            schema_key: fn.get("parameters") or {"type": "object", "properties": {}},
        }
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(fn := t.get("function"), dict)
    ]


def max_tokens_of(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return value if type(value) is int else None


def stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop]
    return [s for s in stop if isinstance(s, str)] if isinstance(stop, list) else []


def usage_dict(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_completion(
    *, id: str, model: str, choices: list[dict[str, Any]], usage: dict[str, int] | None
) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        reply["usage"] = usage
    return reply


def message_choice(
    index: int, text: str | None, calls: list[dict[str, Any]], finish: str
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class ChunkMaker:
    """Builds canonical `chat.completion.chunk` objects for one streamed answer."""

    __slots__ = ("created", "id", "model", "object")

    def __init__(self, id: str = "", model: str = "", obj: str = "chat.completion.chunk") -> None:
        self.id = id
        self.model = model
        self.created = int(time.time())
        self.object = obj

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def text_chunk(self, text: str, finish: str | None = None) -> dict[str, Any]:
        """A legacy completions chunk (`/v1/completions`)."""
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
        }
