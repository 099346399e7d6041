"""Anthropic Messages requests ⇄ OpenAI chat requests.

Carried over: system prompt, text and image content, tool definitions, tool
choice, tool calls (`tool_use` ⇄ `tool_calls`) and their results (`tool_result`
⇄ `tool` messages), max tokens, temperature, top_p, stop sequences, stream, user.
Anthropic-only features with no OpenAI equivalent (thinking, server tools,
cache control) are dropped on the way to another provider.
"""

from __future__ import annotations

from typing import Any

from gateway.translate.content import (
    append_turn,
    arguments_object,
    collapse,
    data_url,
    declared_functions,
    dumps,
    image_parts,
    max_tokens_of,
    stops,
    text_of,
)

ANTHROPIC_TEMPERATURE_MAX = 1.0

_CHOICE_TO_OPENAI = {"auto": "auto", "any": "required", "none": "none"}
_CHOICE_TO_ANTHROPIC = {"auto": "auto", "required": "any", "none": "none"}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [b for b in content or () if isinstance(b, dict)]


def _blocks_text(content: Any) -> str:
    return "\n".join(b.get("text", "") for b in _blocks(content) if b.get("type") == "text")


def _image_url(block: dict[str, Any]) -> str | None:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    if source.get("type") == "url":
        return source.get("url")
    return None


def _user_to_openai(blocks: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    parts: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "tool_result":
            content = block.get("content")
            text = content if isinstance(content, str) else _blocks_text(content)
            out.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image" and (url := _image_url(block)):
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "document" and (block.get("source") or {}).get("type") == "text":
            parts.append({"type": "text", "text": block["source"].get("data", "")})
    if parts:
        out.append({"role": "user", "content": collapse(parts)})


def _assistant_to_openai(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    calls = [
        {
            "id": b.get("id"),
            "type": "function",
            "function": {"name": b.get("name"), "arguments": dumps(b.get("input") or {})},
        }
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_choice_to_openai(choice: dict[str, Any]) -> Any:
    if choice.get("type") == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return _CHOICE_TO_OPENAI.get(choice.get("type", "auto"), "auto")


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as an OpenAI chat request."""
    messages: list[dict[str, Any]] = []
    system = _blocks_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or ():
        blocks = _blocks(message.get("content"))
        if message.get("role") == "assistant":
            messages.append(_assistant_to_openai(blocks))
        else:
            _user_to_openai(blocks, messages)
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for name in ("max_tokens", "temperature", "top_p", "stream"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    tools = [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
            },
        }
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("name") and t.get("type", "custom") == "custom"
    ]
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        out["tool_choice"] = _tool_choice_to_openai(choice)
        if choice.get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str):
        out["user"] = user
    return out


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content or ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            for url in image_parts([part]):
                inline = data_url(url)
                source = (
                    {"type": "base64", "media_type": inline[0], "data": inline[1]}
                    if inline
                    else {"type": "url", "url": url}
                )
                blocks.append({"type": "image", "source": source})
    return blocks


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    text = text_of(message.get("content"))
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{index}",
                "name": function.get("name", ""),
                "input": arguments_object(function.get("arguments")),
            }
        )
    return blocks


def _tool_choice_to_anthropic(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return {"type": "tool", "name": name} if name else None
    kind = _CHOICE_TO_ANTHROPIC.get(choice) if isinstance(choice, str) else None
    return {"type": kind} if kind else None


def from_openai(body: dict[str, Any], *, model: str, max_tokens: int) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request for `model`."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in body.get("messages") or ():
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": text_of(message.get("content")),
            }
            append_turn(turns, "user", [result], "content")
        elif role == "assistant":
            append_turn(turns, "assistant", _assistant_blocks(message), "content")
        else:
            append_turn(turns, "user", _user_blocks(message.get("content")), "content")
    out: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens_of(body) or max_tokens,
        "messages": turns,
    }
    if any(system):
        out["system"] = "\n\n".join(s for s in system if s)
    if isinstance(body.get("temperature"), int | float):
        out["temperature"] = min(float(body["temperature"]), ANTHROPIC_TEMPERATURE_MAX)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    if stop := stops(body):
        out["stop_sequences"] = stop
    if body.get("stream"):
        out["stream"] = True
    tools = declared_functions(body, "input_schema")
    if tools:
        out["tools"] = tools
        choice = _tool_choice_to_anthropic(body.get("tool_choice"))
        if choice is not None:
            if body.get("parallel_tool_calls") is False and choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True
            out["tool_choice"] = choice
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    return out
