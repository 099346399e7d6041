"""Candela's structured PII and secret detector.

Pure functions, no network, no Django, and no logging of values::

    from gateway.pii import detect, redact_body, tokenize_body

    findings = detect("mail me at jane@example.org")      # [Finding('EMAIL', 11, 27, False)]
    new_body, result = redact_body(body, "openai")         # "[EMAIL_REDACTED]"
    new_body, result, vault = tokenize_body(body, "anthropic")  # "<EMAIL_1>"
    text = vault.restorer().restore(response_text)
    stream = vault.stream_restorer(); out = stream.feed(delta) ...; out += stream.flush()
"""

from __future__ import annotations

from .body import FORMATS, iter_text_fields, transform_body
from .engine import detect, engine_name
from .redact import redact_body, redact_text, scan_body, tokenize_body, tokenize_text
from .restore import Restorer, StreamRestorer, Vault
from .types import (
    ALL_TYPES,
    PII_TYPES,
    SECRET_TYPES,
    Finding,
    ScanResult,
    summarize,
)

__all__ = [
    "ALL_TYPES",
    "FORMATS",
    "PII_TYPES",
    "SECRET_TYPES",
    "Finding",
    "Restorer",
    "ScanResult",
    "StreamRestorer",
    "Vault",
    "detect",
    "engine_name",
    "iter_text_fields",
    "redact_body",
    "redact_text",
    "scan_body",
    "summarize",
    "tokenize_body",
    "tokenize_text",
    "transform_body",
]
