"""Redis key names for per-provider state: circuit breaker and monthly spend.

Every key of one provider carries the hash tag `{p<provider_id>}`, so the breaker's
scripts touch a single Redis Cluster slot, e.g. `candela:{p3}:breaker:fails`.
"""

from __future__ import annotations

from governance.counters.keys import PREFIX, month_stamp


def provider_prefix(provider_id: int) -> str:
    return f"{PREFIX}:{{p{int(provider_id)}}}:"


def breaker_fails(provider_id: int) -> str:
    """Consecutive failures while the breaker is closed."""
    return f"{provider_prefix(provider_id)}breaker:fails"


def breaker_open_until(provider_id: int) -> str:
    """Epoch milliseconds (Redis server time) until which the breaker stays open."""
    return f"{provider_prefix(provider_id)}breaker:open_until"


def breaker_probe(provider_id: int) -> str:
    """Held (SET NX) by the one request allowed through a half-open breaker."""
    return f"{provider_prefix(provider_id)}breaker:probe"


def provider_month(provider_id: int, now: float) -> str:
    """Nano-USD settled on the provider in the UTC month of `now`."""
    return f"{provider_prefix(provider_id)}spend:month:{month_stamp(now)}"
