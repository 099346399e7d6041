"""Sentinels for tokenised values, and restoring them in responses.

A request is tokenised by replacing each finding with a sentinel ``<TYPE_N>``
(``N`` counts per type from 1 within the request; the same value always gets
the same sentinel). The :class:`Vault` maps sentinel -> original value and
lives only as long as the request; it never logs or prints the values.

Responses are restored with :class:`Restorer` (whole texts) or
:class:`StreamRestorer` (text deltas of a streamed response, e.g. the
``delta.content`` pieces of SSE chunks). The streaming variant holds back only
a possible *partial* sentinel at the end of a piece: a ``<`` followed by fewer
characters than the longest sentinel that could still grow into a known
sentinel. Anything else, including a lone ``<`` that can no longer start a
sentinel, is passed on immediately.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping

SENTINEL_RX = re.compile(r"<[A-Z][A-Z_]*_[1-9][0-9]*>")

__all__ = ["SENTINEL_RX", "Restorer", "StreamRestorer", "Vault"]


class Vault(Mapping[str, str]):
    """Sentinel -> original value, for one request."""

    __slots__ = ("_by_token", "_by_value", "_counters", "_reserved")

    def __init__(self, reserved: set[str] | None = None) -> None:
        self._by_token: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}
        # sentinel-shaped strings already present in the request: never issued
        self._reserved: set[str] = set(reserved or ())

    def reserve(self, sentinels: set[str]) -> None:
        self._reserved |= sentinels

    def token_for(self, kind: str, value: str) -> str:
        key = (kind, value)
        tok = self._by_value.get(key)
        if tok is not None:
            return tok
        n = self._counters.get(kind, 0)
        while True:
            n += 1
            tok = f"<{kind}_{n}>"
            if tok not in self._reserved:
                break
        self._counters[kind] = n
        self._by_value[key] = tok
        self._by_token[tok] = value
        return tok

    # Mapping interface (sentinel -> original)
    def __getitem__(self, sentinel: str) -> str:
        return self._by_token[sentinel]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_token)

    def __len__(self) -> int:
        return len(self._by_token)

    def __repr__(self) -> str:  # never show the values
        return f"<Vault {len(self._by_token)} sentinels>"

    @property
    def max_sentinel_len(self) -> int:
        return max((len(t) for t in self._by_token), default=0)

    def restorer(self, *, json_string: bool = False) -> Restorer:
        return Restorer(self, json_string=json_string)

    def stream_restorer(self, *, json_string: bool = False) -> StreamRestorer:
        return StreamRestorer(self, json_string=json_string)


class Restorer:
    """Replace known sentinels in a complete text with their original values.

    With ``json_string=True`` the values are JSON-string-escaped, for text that
    is itself the inside of a JSON string or a JSON document (tool-call
    ``arguments``).
    """

    __slots__ = ("_json", "_vault")

    def __init__(self, vault: Mapping[str, str], *, json_string: bool = False) -> None:
        self._vault = vault
        self._json = json_string

    def _value(self, m: re.Match[str]) -> str:
        tok = m.group(0)
        value = self._vault.get(tok)
        if value is None:
            return tok
        # inside JSON text (e.g. streamed tool-call arguments) the value must
        # be escaped so that quotes / newlines keep the document valid
        return json.dumps(value, ensure_ascii=False)[1:-1] if self._json else value

    def restore(self, text: str) -> str:
        if not self._vault or "<" not in text:
            return text
        return SENTINEL_RX.sub(self._value, text)


class StreamRestorer:
    """Restore sentinels in a stream of text pieces.

    ``feed(piece)`` returns the text that can be emitted now; ``flush()``
    returns whatever was held back once the stream ends. A sentinel split
    across pieces at any position is restored, and no part of a sentinel is
    ever emitted unrestored.
    """

    __slots__ = ("_max", "_pending", "_prefixes", "_restorer")

    def __init__(self, vault: Mapping[str, str], *, json_string: bool = False) -> None:
        self._restorer = Restorer(vault, json_string=json_string)
        # every proper prefix of a known sentinel ("<", "<E", ..., "<EMAIL_1")
        self._prefixes: frozenset[str] = frozenset(
            tok[:i] for tok in vault for i in range(1, len(tok))
        )
        self._max = max((len(t) for t in vault), default=0)
        self._pending = ""

    def feed(self, piece: str) -> str:
        buf = self._pending + piece if self._pending else piece
        if not buf:
            return ""
        cut = len(buf)
        if self._prefixes:
            # only the last '<' can open a partial sentinel (a sentinel has one '<')
            i = buf.rfind("<", max(0, len(buf) - self._max + 1))
            if i != -1 and buf[i:] in self._prefixes:
                cut = i
        self._pending = buf[cut:]
        return self._restorer.restore(buf[:cut] if cut < len(buf) else buf)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._restorer.restore(rest)

    @property
    def pending(self) -> int:
        """Number of characters currently held back."""
        return len(self._pending)
