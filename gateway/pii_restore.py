"""Tokenize mode, response side: the originals go back in place of their sentinels.

`ReplyRestore` works on the answer in the CLIENT's format (what the adapter or a
translator hands to the client), so it does not matter which provider served it:

- `reply(raw)`: a whole JSON answer. Every string is restored; an OpenAI
  tool-call `arguments` string (JSON text) gets JSON-escaped values, so a value
  with quotes or newlines keeps the document valid.
- `wrap(decoder)`: a stream decoder whose client frames (SSE events, or the
  elements of Gemini's streamed JSON array: gateway.pii_frames) are rewritten as
  they pass. Each text stream (a choice's content, a tool call's arguments, an
  Anthropic content block, a Gemini candidate) has its own `StreamRestorer`, so
  a sentinel split across events is restored once its last piece arrives and no
  part of it is ever sent unrestored. A stream that ends inside a sentinel drops
  that fragment.

For translators (gateway/translate/…): a translator that yields Anthropic or
Gemini client events needs nothing; the endpoint's `EndpointSpec.client_format`
selects the rewriter below. One that builds text deltas some other way can
restore them itself: `streams = TextStreams(vault)`, then
`streams.feed(("text", index), delta_text)` per delta (`json_text=True` for
pieces of JSON text such as `partial_json`) and `streams.whole(value)` for
complete values such as a tool call's input object.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import orjson

from gateway.pii import Restorer, StreamRestorer, Vault
from gateway.pii_frames import Frame, Framing, framing_for
from gateway.providers.base import StreamDecoder, Usage


class TextStreams:
    """One `StreamRestorer` per text stream of an answer, created on first use."""

    __slots__ = ("_json", "_plain", "_streams", "_vault")

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._streams: dict[Hashable, StreamRestorer] = {}
        self._plain: Restorer = vault.restorer()
        self._json: Restorer = vault.restorer(json_string=True)

    def feed(self, key: Hashable, text: str, *, json_text: bool = False) -> str:
        """The part of `text` (plus what was held back) that can be sent now, restored."""
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self._vault.stream_restorer(json_string=json_text)
        return stream.feed(text)

    def whole(self, value: Any) -> Any:
        """`value` with every string inside restored (a tool call's input, a whole reply);
        the very same object when nothing changed. `arguments` strings are JSON text."""
        if isinstance(value, str):
            return self._plain.restore(value)
        if isinstance(value, list):
            items = [self.whole(item) for item in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        if isinstance(value, dict):
            changed: dict[str, Any] | None = None
            for name, item in value.items():
                if name == "arguments" and isinstance(item, str):
                    new = self._json.restore(item)
                else:
                    new = self.whole(item)
                if new is not item and new != item:
                    changed = changed if changed is not None else dict(value)
                    changed[name] = new
            return value if changed is None else changed
        return value


# --- per client format: restore one parsed stream event in place, True if changed ----

EventFn = Callable[[TextStreams, dict[str, Any]], bool]


def _feed(streams: TextStreams, holder: dict, name: str, key: Hashable, *, json: bool) -> bool:
    text = holder.get(name)
    if not isinstance(text, str) or not text:
        return False
    new = streams.feed(key, text, json_text=json)
    if new == text:
        return False
    holder[name] = new
    return True


def _openai_event(streams: TextStreams, obj: dict[str, Any]) -> bool:
    changed = False
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", 0)
        changed |= _feed(streams, choice, "text", ("text", index), json=False)  # completions
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            continue
        changed |= _feed(streams, delta, "content", ("content", index), json=False)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                key = ("arguments", index, call.get("index", 0))
                changed |= _feed(streams, function, "arguments", key, json=True)
    return changed


def _anthropic_event(streams: TextStreams, obj: dict[str, Any]) -> bool:
    kind, index = obj.get("type"), obj.get("index", 0)
    if kind == "content_block_delta" and isinstance(obj.get("delta"), dict):
        delta = obj["delta"]
        if delta.get("type") == "input_json_delta":
            return _feed(streams, delta, "partial_json", ("json", index), json=True)
        return _feed(streams, delta, "text", ("text", index), json=False)
    if kind == "content_block_start" and isinstance(obj.get("content_block"), dict):
        block = obj["content_block"]
        new = streams.whole(block)
        obj["content_block"] = new
        return new is not block
    return False


def _gemini_event(streams: TextStreams, obj: dict[str, Any]) -> bool:
    changed = False
    for position, candidate in enumerate(obj.get("candidates") or ()):
        content = candidate.get("content") if isinstance(candidate, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        for i, part in enumerate(parts or ()):
            if not isinstance(part, dict):
                continue
            index = candidate.get("index", position)
            changed |= _feed(streams, part, "text", ("text", index), json=False)
            for name in ("functionCall", "function_call"):
                if isinstance(part.get(name), dict):
                    new = streams.whole(part[name])
                    if new is not part[name]:
                        parts[i] = part = {**part, name: new}
                        changed = True
    return changed


EVENT_REWRITERS: dict[str, EventFn] = {
    "openai": _openai_event,
    "anthropic": _anthropic_event,
    "gemini": _gemini_event,
}


class RestoringStream:
    """A `StreamDecoder` whose client frames have their sentinels restored."""

    __slots__ = ("_framing", "_inner", "_rewrite", "_streams")

    def __init__(self, inner: StreamDecoder, vault: Vault, rewrite: EventFn) -> None:
        self._inner = inner
        self._rewrite = rewrite
        self._streams = TextStreams(vault)
        self._framing: Framing | None = None  # known from the first bytes

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @property
    def output_bytes(self) -> int:
        return self._inner.output_bytes

    @property
    def complete(self) -> bool:
        return self._inner.complete

    def _join(self, framing: Framing, frames: list[Frame]) -> bytes:
        out = []
        for frame in frames:
            obj = frame.obj
            changed = isinstance(obj, dict) and self._rewrite(self._streams, obj)
            out.append(framing.rebuild(frame, obj) if changed else frame.raw)
        return b"".join(out)

    def _restore(self, data: bytes) -> bytes:
        if not data:
            return data
        if self._framing is None:
            self._framing = framing_for(data)
        return self._join(self._framing, self._framing.feed(data))

    def feed(self, chunk: bytes) -> bytes:
        return self._restore(self._inner.feed(chunk))

    def finish(self) -> bytes:
        out = self._restore(self._inner.finish())
        if self._framing is not None:
            out += self._join(self._framing, self._framing.rest())
        return out

    def error_event(self, *, code: str, message: str, request_id: str) -> bytes:
        return self._inner.error_event(code=code, message=message, request_id=request_id)


class ReplyRestore:
    """Restores one tokenized request's answer, whole or streamed, in `fmt` (client format)."""

    __slots__ = ("_fmt", "_vault")

    def __init__(self, vault: Vault, fmt: str) -> None:
        if fmt not in EVENT_REWRITERS:
            raise ValueError(f"no restore for client format {fmt!r}")
        self._vault = vault
        self._fmt = fmt

    def reply(self, raw: bytes) -> bytes:
        if b"<" not in raw and b"\\u003c" not in raw and b"\\u003C" not in raw:
            return raw  # no sentinel in it (an embedding, say): not even parsed
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # the adapter vetted the answer; nothing readable to restore
        new = TextStreams(self._vault).whole(obj)
        return raw if new is obj else orjson.dumps(new)

    def wrap(self, decoder: StreamDecoder) -> StreamDecoder:
        return RestoringStream(decoder, self._vault, EVENT_REWRITERS[self._fmt])
