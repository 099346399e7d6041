"""Canonical JSON and SHA-256 chaining of audit events."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

GENESIS_HASH = "0" * 64

# The fields that are sealed by the hash, in a fixed order.
HASHED_FIELDS = (
    "created_at",
    "kind",
    "action",
    "decision",
    "reason",
    "request_id",
    "tenant_id",
    "tenant_slug",
    "actor_id",
    "actor_name",
    "ip",
    "key_prefix",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms",
    "target_type",
    "target_id",
    "target_repr",
    "changes",
    "data",
)
_NORMALISED = ("created_at", "cost_usd", "latency_ms")


_MICRO = Decimal("0.000001")


def _normalise(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, Decimal):
        return f"{value.quantize(_MICRO):f}"
    if name == "latency_ms":
        return round(float(value or 0), 3)
    return value


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    """The sealed fields as sorted JSON. Only three columns read back as something JSON has
    no form for (the time, the money) or in a form a float can blur (the latency); every
    other value is hashed as it is (the gateway's recorder hashes every request's event)."""
    payload = {name: fields.get(name) for name in HASHED_FIELDS}
    for name in _NORMALISED:
        payload[name] = _normalise(name, payload[name])
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical_bytes(fields)).hexdigest()
