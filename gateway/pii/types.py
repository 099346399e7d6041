"""Result types shared by the PII / secret detector.

Nothing in this package logs or stores the matched values; a :class:`Finding`
only carries the type and the span.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

# PII types
EMAIL = "EMAIL"
SSN = "SSN"
PHONE = "PHONE"
IP_ADDRESS = "IP_ADDRESS"
CREDIT_CARD = "CREDIT_CARD"
# secret types
API_KEY = "API_KEY"
AWS_ACCESS_KEY = "AWS_ACCESS_KEY"
AWS_SECRET_KEY = "AWS_SECRET_KEY"
PRIVATE_KEY = "PRIVATE_KEY"
JWT = "JWT"

PII_TYPES: tuple[str, ...] = (EMAIL, SSN, PHONE, IP_ADDRESS, CREDIT_CARD)
SECRET_TYPES: tuple[str, ...] = (API_KEY, AWS_ACCESS_KEY, AWS_SECRET_KEY, PRIVATE_KEY, JWT)
ALL_TYPES: tuple[str, ...] = PII_TYPES + SECRET_TYPES


class Finding(NamedTuple):
    """One detected value: its type and its ``[start, end)`` span in the text."""

    type: str
    start: int
    end: int
    is_secret: bool


def summarize(findings: Iterable[Finding]) -> tuple[dict[str, int], dict[str, int]]:
    """Count findings per type: ``(pii_counts, secret_counts)``."""
    pii: dict[str, int] = {}
    secrets: dict[str, int] = {}
    for f in findings:
        d = secrets if f.is_secret else pii
        d[f.type] = d.get(f.type, 0) + 1
    return pii, secrets


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Per-type counts of what was found in a request body (never the values)."""

    pii: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, int] = field(default_factory=dict)
    total: int = 0

    @classmethod
    def from_findings(cls, findings: Iterable[Finding]) -> ScanResult:
        pii, secrets = summarize(findings)
        return cls(pii, secrets, sum(pii.values()) + sum(secrets.values()))

    @classmethod
    def from_counts(cls, pii: dict[str, int], secrets: dict[str, int]) -> ScanResult:
        return cls(dict(pii), dict(secrets), sum(pii.values()) + sum(secrets.values()))

    @property
    def has_pii(self) -> bool:
        return bool(self.pii)

    @property
    def has_secrets(self) -> bool:
        return bool(self.secrets)

    def __bool__(self) -> bool:
        return self.total > 0
