"""Scan, redact and tokenise request bodies."""

from __future__ import annotations

from .body import iter_text_fields, transform_body
from .engine import detect
from .restore import SENTINEL_RX, Vault
from .types import SECRET_TYPES, Finding, ScanResult

__all__ = [
    "redact_body",
    "redact_text",
    "scan_body",
    "tokenize_body",
    "tokenize_text",
]

_SECRET = frozenset(SECRET_TYPES)


class _Counter:
    __slots__ = ("pii", "secrets")

    def __init__(self) -> None:
        self.pii: dict[str, int] = {}
        self.secrets: dict[str, int] = {}

    def add(self, findings: list[Finding]) -> None:
        for f in findings:
            d = self.secrets if f.is_secret else self.pii
            d[f.type] = d.get(f.type, 0) + 1

    def result(self) -> ScanResult:
        return ScanResult.from_counts(self.pii, self.secrets)


def _replace(text: str, findings: list[Finding], repl) -> str:
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(repl(f))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def _redaction(f: Finding) -> str:
    return f"[{f.type}_REDACTED]"


def redact_text(text: str) -> tuple[str, list[Finding]]:
    """Replace each finding in ``text`` with ``[TYPE_REDACTED]``."""
    findings = detect(text)
    if not findings:
        return text, findings
    return _replace(text, findings, _redaction), findings


def tokenize_text(text: str, vault: Vault) -> tuple[str, list[Finding]]:
    """Replace each finding in ``text`` with its sentinel from ``vault``."""
    findings = detect(text)
    if not findings:
        return text, findings
    return _replace(
        text, findings, lambda f: vault.token_for(f.type, text[f.start : f.end])
    ), findings


def scan_body(body: dict, fmt: str) -> ScanResult:
    """Count the findings in every provider-visible text of ``body``."""
    counter = _Counter()
    for text in iter_text_fields(body, fmt):
        found = detect(text)
        if found:
            counter.add(found)
    return counter.result()


def redact_body(body: dict, fmt: str) -> tuple[dict, ScanResult]:
    """Copy of ``body`` with each finding replaced by ``[TYPE_REDACTED]``.

    The input is not modified; with nothing found the same object is returned.
    """
    counter = _Counter()

    def fn(text: str) -> str:
        new, found = redact_text(text)
        if found:
            counter.add(found)
        return new

    return transform_body(body, fmt, fn), counter.result()


def tokenize_body(body: dict, fmt: str) -> tuple[dict, ScanResult, Vault]:
    """Copy of ``body`` with each finding replaced by a sentinel ``<TYPE_N>``.

    ``N`` counts per type from 1 within this request, the same value gets the
    same sentinel, and sentinel-shaped strings already present in the request
    are never issued. The returned :class:`Vault` maps sentinel -> original
    and feeds :class:`~gateway.pii.restore.Restorer` /
    :class:`~gateway.pii.restore.StreamRestorer` for the response.
    """
    vault = Vault()
    existing: set[str] = set()
    for text in iter_text_fields(body, fmt):
        if "<" in text:
            existing.update(SENTINEL_RX.findall(text))
    if existing:
        vault.reserve(existing)
    counter = _Counter()

    def fn(text: str) -> str:
        new, found = tokenize_text(text, vault)
        if found:
            counter.add(found)
        return new

    return transform_body(body, fmt, fn), counter.result(), vault
