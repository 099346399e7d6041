"""Gateway settings, read once from Django settings when the gateway is built.

The hot path reads this frozen object instead of `django.conf.settings`, whose
lazy attribute lookups are slower and could change under a running process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

# Beyond this, a snapshot known to be out of date (the version moved but the
# database could not be read) is no longer trusted: requests get 503.
POLICY_MAX_STALE_SECONDS = 5.0
RECORDER_BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    redis_url: str
    max_body_bytes: int
    connect_timeout: float
    read_timeout: float
    upstream_retries: int
    breaker_failures: int
    breaker_open_seconds: float
    default_max_tokens: int
    policy_refresh_seconds: float
    policy_max_stale_seconds: float
    audit_flush_seconds: float
    recorder_batch_size: int
    spool_dir: Path

    @classmethod
    def from_settings(cls) -> GatewayConfig:
        return cls(
            redis_url=settings.REDIS_URL,
            max_body_bytes=settings.CANDELA_MAX_BODY_BYTES,
            connect_timeout=settings.CANDELA_UPSTREAM_CONNECT_TIMEOUT,
            read_timeout=settings.CANDELA_UPSTREAM_READ_TIMEOUT,
            upstream_retries=max(0, settings.CANDELA_UPSTREAM_RETRIES),
            breaker_failures=max(1, settings.CANDELA_BREAKER_FAILURES),
            breaker_open_seconds=max(0.0, settings.CANDELA_BREAKER_OPEN_SECONDS),
            default_max_tokens=settings.CANDELA_DEFAULT_MAX_TOKENS,
            policy_refresh_seconds=settings.CANDELA_POLICY_REFRESH_SECONDS,
            policy_max_stale_seconds=POLICY_MAX_STALE_SECONDS,
            audit_flush_seconds=settings.CANDELA_AUDIT_FLUSH_SECONDS,
            recorder_batch_size=RECORDER_BATCH_SIZE,
            spool_dir=Path(settings.CANDELA_SPOOL_DIR),
        )
