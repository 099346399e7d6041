"""Budget, spend-cap and rate-limit counters behind one interface (see base.py)."""

from __future__ import annotations

from governance.counters.base import (
    BUDGET_EXCEEDED,
    NANO_PER_USD,
    RATE_LIMIT_EXCEEDED,
    SPEND_CAP_EXCEEDED,
    CounterStore,
    CounterStoreUnavailable,
    GrantSlot,
    RateInfo,
    ReserveRequest,
    ReserveResult,
    SettleResult,
    SpendView,
    build_counter_store,
    cost_nano,
    nano_to_usd,
    usd_to_nano,
)

__all__ = [
    "BUDGET_EXCEEDED",
    "NANO_PER_USD",
    "RATE_LIMIT_EXCEEDED",
    "SPEND_CAP_EXCEEDED",
    "CounterStore",
    "CounterStoreUnavailable",
    "GrantSlot",
    "RateInfo",
    "ReserveRequest",
    "ReserveResult",
    "SettleResult",
    "SpendView",
    "build_counter_store",
    "cost_nano",
    "nano_to_usd",
    "usd_to_nano",
]
