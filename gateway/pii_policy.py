"""PII policy: which mode and on-detect policy govern a request, and the verdict.

Mode (what happens to findings before the request leaves): the request header
`x-candela-pii-mode: off|redact|tokenize`, else the key's override, else the
tenant's default. On-detect policy (whether the request may go on): the key's
override, else the tenant's default; never per request, so a client cannot talk
its way past its organisation's policy.

- allow: go on silently (redact/tokenize still apply).
- warn: go on; `x-candela-pii-detected: <types>` for PII and
  `x-candela-secret-detected: <types>` plus `x-candela-secret-advisory: rotate
  exposed credentials` for secrets.
- require_ack: 422 `pii_acknowledgment_required` unless `x-candela-pii-ack: true`;
  acknowledged requests go on with the warn headers.
- block: 422 `pii_blocked`.

The 422 answers carry the same detection headers, so the client learns what to
remove. Types and counts only: no value ever leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.errors import Denial, invalid_request
from gateway.pii import ScanResult, Vault
from gateway.responses import Header
from governance.snapshot import KeyPolicy, TenantPolicy

MODE_HEADER = b"x-candela-pii-mode"
ACK_HEADER = b"x-candela-pii-ack"
DETECTED_HEADER = b"x-candela-pii-detected"
SECRET_HEADER = b"x-candela-secret-detected"
ADVISORY_HEADER = b"x-candela-secret-advisory"
ADVISORY = b"rotate exposed credentials"
REDACTED_HEADER = b"x-candela-pii-redacted"
TOKENIZED_HEADER = b"x-candela-pii-tokenized"
# Tokenized answers hold the restored originals: no cache may keep them.
NO_STORE: Header = (b"cache-control", b"no-store")

OFF, REDACT, TOKENIZE = "off", "redact", "tokenize"
MODES = (OFF, REDACT, TOKENIZE)
ALLOW, WARN, REQUIRE_ACK, BLOCK = "allow", "warn", "require_ack", "block"


@dataclass(frozen=True, slots=True)
class PiiPolicy:
    mode: str
    on_detect: str
    acknowledged: bool
    fail_closed: bool  # a PHI tenant: findings left after redaction block the request

    @property
    def inert(self) -> bool:
        """Nothing to do: the request is not even scanned."""
        return self.mode == OFF and self.on_detect == ALLOW


@dataclass(slots=True)
class PiiOutcome:
    """What the scan found and did, for the response headers and the audit trail."""

    mode: str  # off|redact|tokenize, or "scan" for POST /v1/pii/scan
    found: ScanResult
    action: str = "none"  # none|allowed|warned|acknowledged|ack_required|blocked|scanned
    residual: ScanResult | None = None  # left after redact/tokenize (egress re-scan)
    fail_closed: bool = False
    vault: Vault | None = field(default=None, repr=False)
    headers: list[Header] = field(default_factory=list)

    def audit_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pii": dict(self.found.pii),
            "secrets": dict(self.found.secrets),
            "pii_mode": self.mode,
            "pii_action": self.action,
        }
        if self.residual:
            data["pii_residual"] = {**self.residual.pii, **self.residual.secrets}
        return data


def _mode_header(headers: dict[bytes, bytes]) -> str | None:
    value = headers.get(MODE_HEADER)
    if value is None:
        return None
    mode = value.strip().lower().decode("latin-1")
    if mode not in MODES:
        raise invalid_request("'x-candela-pii-mode' must be one of: off, redact, tokenize.")
    return mode


def resolve(headers: dict[bytes, bytes], key: KeyPolicy, tenant: TenantPolicy) -> PiiPolicy:
    ack = headers.get(ACK_HEADER)
    configured = key.pii_mode or tenant.pii_mode or OFF
    requested = _mode_header(headers)
    # A PHI tenant's protection is not the client's to switch off: the header may
    # change how findings are replaced, never turn replacement off.
    if tenant.is_phi and requested == OFF and configured != OFF:
        requested = configured
    return PiiPolicy(
        mode=requested or configured,
        on_detect=key.pii_on_detect or tenant.pii_on_detect or ALLOW,
        acknowledged=ack is not None and ack.strip().lower() == b"true",
        fail_closed=tenant.is_phi,
    )


def _types(counts: dict[str, int]) -> bytes:
    return ",".join(sorted(counts)).encode()


def detection_headers(found: ScanResult) -> list[Header]:
    headers: list[Header] = []
    if found.pii:
        headers.append((DETECTED_HEADER, _types(found.pii)))
    if found.secrets:
        headers.append((SECRET_HEADER, _types(found.secrets)))
        headers.append((ADVISORY_HEADER, ADVISORY))
    return headers


def _names(found: ScanResult) -> str:
    return ", ".join(sorted({**found.pii, **found.secrets}))


def judge(policy: PiiPolicy, outcome: PiiOutcome) -> None:
    """Apply the on-detect policy: sets `outcome.action` and headers, or raises a 422."""
    found = outcome.found
    if not found:
        outcome.action = "none"
        return
    if policy.on_detect == ALLOW:
        outcome.action = "allowed"
        return
    headers = detection_headers(found)
    if policy.on_detect == BLOCK:
        outcome.action = "blocked"
        raise Denial(
            "pii_blocked",
            f"The request contains PII or secrets ({_names(found)}); this organisation's "
            "policy blocks such requests. Nothing was forwarded.",
            headers=headers,
        )
    if policy.on_detect == REQUIRE_ACK and not policy.acknowledged:
        outcome.action = "ack_required"
        raise Denial(
            "pii_acknowledgment_required",
            f"The request contains PII or secrets ({_names(found)}); send it again with "
            "'x-candela-pii-ack: true' to acknowledge. Nothing was forwarded.",
            headers=headers,
        )
    outcome.action = "acknowledged" if policy.on_detect == REQUIRE_ACK else "warned"
    outcome.headers.extend(headers)
