"""Server-sent events: splitting a byte stream into whole events, reading `data:`."""

from __future__ import annotations

import orjson

DONE = b"[DONE]"


class EventSplitter:
    """Collects bytes and hands out complete events (each ending in a blank line)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        events = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            events.append(buffer[start : end + 2])
            start = end + 2
        self._buffer = buffer[start:]
        return events

    def rest(self) -> bytes:
        """An unterminated last event at the end of the stream, terminated; else b""."""
        rest, self._buffer = self._buffer, b""
        return rest + b"\n\n" if rest.strip() else b""


def data_of(event: bytes) -> bytes | None:
    """The event's data (data lines joined), or None for comments/keep-alives."""
    if event.startswith(b"data: ") and event.count(b"\n") == 2:
        return event[6:-2]  # the common one-line event
    lines = [
        line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
    ]
    return b"\n".join(lines) if lines else None


def event(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
