"""Denials: the one way a pipeline step refuses a request.

A step raises `Denial`; the endpoint turns it into an OpenAI-shaped error
(`{"error": {"type", "code", "message", "request_id"}}`) and records it.
"""

from __future__ import annotations

# The documented error codes (ARCHITECTURE.md) and their HTTP status.
STATUS = {
    "invalid_request": 400,
    "invalid_api_key": 401,
    "budget_exceeded": 402,
    "spend_cap_exceeded": 402,
    "model_not_allowed": 403,
    "tenant_mismatch": 403,
    "provider_not_permitted": 403,
    "not_found": 404,
    "model_not_found": 404,
    "method_not_allowed": 405,
    "request_too_large": 413,
    "pii_acknowledgment_required": 422,
    "pii_blocked": 422,
    "rate_limit_exceeded": 429,
    "upstream_error": 502,
    "governance_unavailable": 503,
    "upstream_timeout": 504,
}

# OpenAI's error `type` per status, so SDKs classify our errors like theirs.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


class Denial(Exception):
    """A refusal with its status, code and message; `reason` goes to the audit trail."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        decision: str = "denied",
        reason: str | None = None,
        failover: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS[code]
        self.headers = headers or []
        self.decision = decision
        self.reason = reason if reason is not None else code
        # The provider failed (5xx, 429, timeout, connection, unreadable answer) before
        # anything reached the client: the next route may serve (gateway.fallback).
        self.failover = failover


def invalid_request(message: str) -> Denial:
    return Denial("invalid_request", message)


def governance_unavailable(message: str) -> Denial:
    return Denial("governance_unavailable", message, decision="error")


def upstream_error(message: str, *, reason: str | None = None) -> Denial:
    return Denial("upstream_error", message, decision="error", reason=reason, failover=True)


def upstream_timeout(message: str) -> Denial:
    return Denial("upstream_timeout", message, decision="error", failover=True)


def no_provider(message: str, *, reason: str) -> Denial:
    """Every route was skipped (circuit open, provider budget spent): nothing was tried."""
    return Denial("upstream_error", message, decision="error", reason=reason)
