"""Client streams cut into frames, for `gateway.pii_restore` to rewrite one at a time.

Two framings reach clients: server-sent events (OpenAI, Anthropic, Gemini with
`?alt=sse`) and the streamed JSON array Gemini sends without `alt=sse`
(`[{…},\r\n{…}]`). Both split only what is complete and keep the rest for the
next piece; a frame that is not rewritten goes out byte for byte as it came.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, NamedTuple, Protocol

import orjson

from gateway.sse import DONE, EventSplitter, data_of

_JSON = json.JSONDecoder()


class Frame(NamedTuple):
    raw: bytes  # as received
    obj: Any  # the parsed JSON payload (a dict to rewrite), or None
    head: int  # bytes before the payload that a rebuild keeps (array separators)


class Framing(Protocol):
    def feed(self, data: bytes) -> list[Frame]: ...

    def rest(self) -> list[Frame]: ...

    def rebuild(self, frame: Frame, obj: dict[str, Any]) -> bytes: ...


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None  # the adapter vetted its events; anything else passes on as is


class SseFrames:
    __slots__ = ("_splitter",)

    def __init__(self) -> None:
        self._splitter = EventSplitter()

    @staticmethod
    def _frame(event: bytes) -> Frame:
        data = data_of(event)
        obj = None if data is None or data == DONE else _loads(data)
        return Frame(event, obj, 0)

    def feed(self, data: bytes) -> list[Frame]:
        return [self._frame(event) for event in self._splitter.feed(data)]

    def rest(self) -> list[Frame]:
        rest = self._splitter.rest()
        return [self._frame(rest)] if rest else []

    def rebuild(self, frame: Frame, obj: dict[str, Any]) -> bytes:
        """The event with its data replaced; other lines (`event:`, `id:`) kept."""
        lines = [line for line in frame.raw.split(b"\n") if line and not line.startswith(b"data:")]
        return b"\n".join([*lines, b"data: " + orjson.dumps(obj)]) + b"\n\n"


class ArrayFrames:
    """A streamed JSON array: each element with the punctuation before it."""

    __slots__ = ("_pending", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._pending = ""

    def feed(self, data: bytes) -> list[Frame]:
        text = self._pending + self._utf8.decode(data)
        frames: list[Frame] = []
        pos = 0
        while pos < len(text):
            start = pos
            while pos < len(text) and text[pos] in "[,] \t\r\n":
                pos += 1
            if pos == len(text):  # punctuation only, such as the closing "]"
                frames.append(Frame(text[start:].encode(), None, 0))
                break
            try:
                obj, end = _JSON.raw_decode(text, pos)
            except json.JSONDecodeError:
                pos = start  # an element not complete yet: wait for the rest
                break
            frames.append(Frame(text[start:end].encode(), obj, pos - start))
            pos = end
        self._pending = text[pos:]
        return frames

    def rest(self) -> list[Frame]:
        rest, self._pending = self._pending + self._utf8.decode(b"", final=True), ""
        return [Frame(rest.encode(), None, 0)] if rest else []

    def rebuild(self, frame: Frame, obj: dict[str, Any]) -> bytes:
        return frame.raw[: frame.head] + orjson.dumps(obj)


def framing_for(first: bytes) -> Framing:
    """The framing of a client stream, told by its first bytes."""
    return ArrayFrames() if first.lstrip().startswith(b"[") else SseFrames()
