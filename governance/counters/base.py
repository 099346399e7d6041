"""The counter-store contract: money in integer nano-USD, the reserve/settle types, the Protocol.

Two implementations share it: `RedisCounterStore` (one Lua script per reserve and per settle,
shared by every gateway process) and `MemoryCounterStore` (embedded single-process mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Protocol

# Lua numbers are doubles: integer nano-USD stays exact up to 2**53 nano (about $9M).
NANO_PER_USD = 1_000_000_000
_NANO = Decimal(1).scaleb(-9)
_TOKENS_PER_MTOK = 1_000_000

RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
BUDGET_EXCEEDED = "budget_exceeded"
SPEND_CAP_EXCEEDED = "spend_cap_exceeded"


def usd_to_nano(amount: Decimal) -> int:
    """Dollars to nano-USD, rounded up so a limit is never loosened by rounding."""
    with localcontext() as ctx:
        ctx.prec = 60
        return int((Decimal(amount) * NANO_PER_USD).to_integral_value(rounding=ROUND_CEILING))


def nano_to_usd(nano: int) -> Decimal:
    """Nano-USD to dollars, exact, with nine decimal places."""
    with localcontext() as ctx:
        ctx.prec = 60
        return Decimal(int(nano)).scaleb(-9).quantize(_NANO)


def cost_nano(
    prompt_tokens: int,
    completion_tokens: int,
    input_usd_per_mtok: Decimal,
    output_usd_per_mtok: Decimal,
) -> int:
    """Cost of a call in nano-USD: the exact decimal cost, rounded up once at the end."""
    with localcontext() as ctx:
        ctx.prec = 60
        usd = (
            Decimal(prompt_tokens) * Decimal(input_usd_per_mtok)
            + Decimal(completion_tokens) * Decimal(output_usd_per_mtok)
        ) / _TOKENS_PER_MTOK
        return int((usd * NANO_PER_USD).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class GrantSlot:
    """One of the user's grants: its full amount; the store tracks what was spent of it."""

    grant_id: int
    amount_nano: int
    expires_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """Everything one atomic reserve needs; `now` fixes the UTC day and month."""

    request_id: str
    tenant_id: int
    user_id: int
    key_id: int
    now: float
    cost_nano: int  # worst-case cost; 0 means rate limit only
    key_rpm: int | None = None
    user_rpm: int | None = None
    user_daily_budget_nano: int | None = None  # None: no per-user limit
    grants: tuple[GrantSlot, ...] = ()
    tenant_daily_cap_nano: int | None = None
    tenant_monthly_cap_nano: int | None = None


@dataclass(frozen=True, slots=True)
class RateInfo:
    """The tightest rate window, for x-ratelimit-* headers.

    `reset_seconds` is when the window's oldest entry leaves it, i.e. when one more slot frees.
    """

    limit: int
    remaining: int
    reset_seconds: float


@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    reason: str = ""  # "" | RATE_LIMIT_EXCEEDED | BUDGET_EXCEEDED | SPEND_CAP_EXCEEDED
    retry_after: float = 0.0  # seconds, for rate limit denials
    rate: RateInfo | None = None


@dataclass(frozen=True, slots=True)
class SettleResult:
    charged_nano: int
    by_bucket: dict[str, int]  # {"daily": 1200, "grant:7": 300}


@dataclass(frozen=True, slots=True)
class SpendView:
    """Committed spend (charged + outstanding reservations).

    `user_day_nano` is what the user's daily budget bucket holds for the UTC day (spend paid by
    grants is in `grant_spent_nano`); the tenant figures hold every request of the tenant.
    """

    user_day_nano: int
    tenant_day_nano: int
    tenant_month_nano: int
    grant_spent_nano: dict[int, int]


class CounterStoreUnavailable(Exception):
    """The store cannot be read or written; the gateway answers 503 governance_unavailable."""


class CounterStore(Protocol):
    async def reserve(self, req: ReserveRequest) -> ReserveResult: ...

    async def settle(self, *, tenant_id: int, request_id: str, actual_nano: int) -> SettleResult:
        """Charge `actual_nano` to the reservation's buckets in waterfall order, release the rest.

        Idempotent: a second settle (or one after release) is a no-op returning charged 0.
        An actual above the reservation is charged to the first bucket, so spend stays exact.
        """
        ...

    async def release(self, *, tenant_id: int, request_id: str) -> None:
        """Settle with 0: the upstream call failed, nothing is charged."""
        ...

    async def spend(
        self, *, tenant_id: int, user_id: int, now: float, grant_ids: tuple[int, ...] = ()
    ) -> SpendView: ...

    async def ping(self) -> None:
        """Raises CounterStoreUnavailable when the store cannot be reached."""
        ...

    async def aclose(self) -> None: ...


def build_counter_store() -> CounterStore:
    """RedisCounterStore on settings.REDIS_URL when set, else the in-process MemoryCounterStore."""
    from django.conf import settings

    if settings.REDIS_URL:
        from governance.counters.redis_store import RedisCounterStore

        return RedisCounterStore(settings.REDIS_URL)
    from governance.counters.memory_store import MemoryCounterStore

    return MemoryCounterStore()
