"""Walk the texts a provider would see in a request body.

Three client formats are understood (``fmt``):

``"openai"``
    Chat Completions ``messages[]``: ``content`` (a string or a list of parts
    with ``text``), ``name``, ``tool_calls[].function.arguments`` and the legacy
    ``function_call.arguments``; Completions ``prompt`` (string or list of
    strings); Embeddings / Responses ``input`` (string, list of strings or list
    of message-like items, including ``function_call.arguments`` and
    ``function_call_output.output``) and Responses ``instructions``.
``"anthropic"``
    Messages API ``system`` (string or text blocks) and ``messages[].content``
    (string or blocks): ``text``, ``tool_use.input`` (every nested string
    value), ``tool_result.content`` (string or blocks), text ``document``
    sources. ``thinking`` blocks are signed by the provider and left alone.
``"gemini"``
    ``contents[].parts[]`` and ``systemInstruction.parts[]`` (or the
    snake_case spellings): ``text``, ``functionCall.args`` and
    ``functionResponse.response`` (every nested string value).

Tool-call ``arguments`` are JSON text: when they parse, the nested string
values are visited one by one and the JSON is re-serialised only if one of
them changed; otherwise the raw string is visited.

Tool / function *descriptions* and JSON schemas are developer-written
configuration and are not visited. Dictionary keys are never changed.

:func:`transform_body` never mutates its input: containers on a changed path
are copied, everything else is shared with the input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

TextFn = Callable[[str], str]

FORMATS = ("openai", "anthropic", "gemini")

__all__ = ["FORMATS", "TextFn", "iter_text_fields", "transform_body"]


def _with(out: dict, orig: dict, key: str, new: Any) -> dict:
    """Copy-on-write assignment: returns ``out`` (copied from ``orig`` once)."""
    if new is orig.get(key):
        return out
    if out is orig:
        out = dict(orig)
    out[key] = new
    return out


def _text(v: Any, fn: TextFn) -> Any:
    return fn(v) if isinstance(v, str) and v else v


def _map_list(items: list, f: Callable[[Any], Any]) -> list:
    new: list | None = None
    for i, x in enumerate(items):
        y = f(x)
        if y is not x:
            if new is None:
                new = list(items)
            new[i] = y
    return items if new is None else new


def _nested(v: Any, fn: TextFn) -> Any:
    """Every string value inside a JSON-like value (keys untouched)."""
    if isinstance(v, str):
        return fn(v) if v else v
    if isinstance(v, dict):
        new: dict | None = None
        for k, x in v.items():
            y = _nested(x, fn)
            if y is not x:
                if new is None:
                    new = dict(v)
                new[k] = y
        return v if new is None else new
    if isinstance(v, list):
        return _map_list(v, lambda x: _nested(x, fn))
    return v


def _json_text(s: Any, fn: TextFn) -> Any:
    """Tool arguments: a JSON document in a string."""
    if not isinstance(s, str) or not s:
        return s
    head = s.lstrip()[:1]
    if head in ("{", "["):
        try:
            parsed = json.loads(s)
        except ValueError:
            return fn(s)
        new = _nested(parsed, fn)
        if new is parsed:
            return s
        return json.dumps(new, ensure_ascii=False)
    return fn(s)


# ---------------------------------------------------------------- OpenAI
def _openai_part(p: Any, fn: TextFn) -> Any:
    if isinstance(p, str):
        return _text(p, fn)
    if isinstance(p, dict) and isinstance(p.get("text"), str):
        return _with(p, p, "text", _text(p["text"], fn))
    return p


def _openai_content(c: Any, fn: TextFn) -> Any:
    if isinstance(c, str):
        return _text(c, fn)
    if isinstance(c, list):
        return _map_list(c, lambda p: _openai_part(p, fn))
    return c


def _openai_call(call: Any, fn: TextFn) -> Any:
    """``{"function": {"arguments": ...}}`` or ``{"arguments": ...}``."""
    if not isinstance(call, dict):
        return call
    out = call
    func = call.get("function")
    if isinstance(func, dict) and "arguments" in func:
        out = _with(
            out, call, "function", _with(func, func, "arguments", _json_text(func["arguments"], fn))
        )
    if "arguments" in call:
        out = _with(out, call, "arguments", _json_text(call["arguments"], fn))
    return out


def _openai_message(m: Any, fn: TextFn) -> Any:
    if isinstance(m, str):
        return _text(m, fn)
    if not isinstance(m, dict):
        return m
    out = m
    if "content" in m:
        out = _with(out, m, "content", _openai_content(m["content"], fn))
    if isinstance(m.get("name"), str):
        out = _with(out, m, "name", _text(m["name"], fn))
    calls = m.get("tool_calls")
    if isinstance(calls, list):
        out = _with(out, m, "tool_calls", _map_list(calls, lambda c: _openai_call(c, fn)))
    if isinstance(m.get("function_call"), dict):
        out = _with(out, m, "function_call", _openai_call(m["function_call"], fn))
    if "arguments" in m:  # Responses API function_call item
        out = _with(out, m, "arguments", _json_text(m["arguments"], fn))
    if isinstance(m.get("output"), str):  # Responses API function_call_output item
        out = _with(out, m, "output", _text(m["output"], fn))
    if isinstance(m.get("text"), str):  # a bare content part
        out = _with(out, m, "text", _text(m["text"], fn))
    return out


def _openai(body: dict, fn: TextFn) -> dict:
    out = body
    msgs = body.get("messages")
    if isinstance(msgs, list):
        out = _with(out, body, "messages", _map_list(msgs, lambda m: _openai_message(m, fn)))
    for key in ("prompt", "input"):
        val = body.get(key)
        if isinstance(val, str):
            out = _with(out, body, key, _text(val, fn))
        elif isinstance(val, list):  # strings, message items; token-id lists are left alone
            out = _with(out, body, key, _map_list(val, lambda x: _openai_message(x, fn)))
    if isinstance(body.get("instructions"), str):
        out = _with(out, body, "instructions", _text(body["instructions"], fn))
    return out


# ---------------------------------------------------------------- Anthropic
_SIGNED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def _anthropic_block(b: Any, fn: TextFn) -> Any:
    if isinstance(b, str):
        return _text(b, fn)
    if not isinstance(b, dict):
        return b
    kind = b.get("type")
    if kind in _SIGNED_BLOCKS:
        return b
    out = b
    if isinstance(b.get("text"), str):
        out = _with(out, b, "text", _text(b["text"], fn))
    if "input" in b and kind in ("tool_use", "server_tool_use", None):
        out = _with(out, b, "input", _nested(b["input"], fn))
    if "content" in b:  # tool_result, search_result, document with content blocks
        out = _with(out, b, "content", _anthropic_content(b["content"], fn))
    src = b.get("source")
    if isinstance(src, dict) and src.get("type") == "text" and isinstance(src.get("data"), str):
        out = _with(out, b, "source", _with(src, src, "data", _text(src["data"], fn)))
    if kind == "document" and isinstance(b.get("context"), str):
        out = _with(out, b, "context", _text(b["context"], fn))
    return out


def _anthropic_content(c: Any, fn: TextFn) -> Any:
    if isinstance(c, str):
        return _text(c, fn)
    if isinstance(c, list):
        return _map_list(c, lambda b: _anthropic_block(b, fn))
    return c


def _anthropic(body: dict, fn: TextFn) -> dict:
    out = body
    if "system" in body:
        out = _with(out, body, "system", _anthropic_content(body["system"], fn))
    msgs = body.get("messages")
    if isinstance(msgs, list):

        def msg(m: Any) -> Any:
            if isinstance(m, dict) and "content" in m:
                return _with(m, m, "content", _anthropic_content(m["content"], fn))
            return m

        out = _with(out, body, "messages", _map_list(msgs, msg))
    return out


# ---------------------------------------------------------------- Gemini
def _gemini_part(p: Any, fn: TextFn) -> Any:
    if isinstance(p, str):
        return _text(p, fn)
    if not isinstance(p, dict):
        return p
    out = p
    if isinstance(p.get("text"), str):
        out = _with(out, p, "text", _text(p["text"], fn))
    for call_key in ("functionCall", "function_call"):
        call = p.get(call_key)
        if isinstance(call, dict) and "args" in call:
            out = _with(out, p, call_key, _with(call, call, "args", _nested(call["args"], fn)))
    for resp_key in ("functionResponse", "function_response"):
        resp = p.get(resp_key)
        if isinstance(resp, dict) and "response" in resp:
            out = _with(
                out, p, resp_key, _with(resp, resp, "response", _nested(resp["response"], fn))
            )
    return out


def _gemini_content(c: Any, fn: TextFn) -> Any:
    if isinstance(c, str):
        return _text(c, fn)
    if isinstance(c, dict):
        parts = c.get("parts")
        if isinstance(parts, list):
            return _with(c, c, "parts", _map_list(parts, lambda p: _gemini_part(p, fn)))
        return c
    if isinstance(c, list):
        return _map_list(c, lambda x: _gemini_content(x, fn))
    return c


def _gemini(body: dict, fn: TextFn) -> dict:
    out = body
    if "contents" in body:
        out = _with(out, body, "contents", _gemini_content(body["contents"], fn))
    for key in ("systemInstruction", "system_instruction"):
        if key in body:
            out = _with(out, body, key, _gemini_content(body[key], fn))
    return out


_WALKERS: dict[str, Callable[[dict, TextFn], dict]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
}


def transform_body(body: dict, fmt: str, fn: TextFn) -> dict:
    """Return ``body`` with every provider-visible text replaced by ``fn(text)``.

    The input is not modified; when ``fn`` changes nothing the very same
    object is returned.
    """
    try:
        walker = _WALKERS[fmt]
    except KeyError:
        raise ValueError(f"unknown body format {fmt!r}; expected one of {FORMATS}") from None
    if not isinstance(body, dict):
        raise TypeError("request body must be a JSON object (dict)")
    return walker(body, fn)


def iter_text_fields(body: dict, fmt: str) -> Iterator[str]:
    """Yield every provider-visible text of ``body`` (same coverage as
    :func:`transform_body`)."""
    seen: list[str] = []

    def visit(s: str) -> str:
        seen.append(s)
        return s

    transform_body(body, fmt, visit)
    return iter(seen)
