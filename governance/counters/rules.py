"""The parts of the reserve semantics both stores compute the same way in plain Python.

Which grants count and in what order, and how rate-window readings become the ReserveResult's
RateInfo and retry_after. The atomic check-and-update itself lives in each store.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.counters.base import (
    BUDGET_EXCEEDED,
    RATE_LIMIT_EXCEEDED,
    SPEND_CAP_EXCEEDED,
    GrantSlot,
    RateInfo,
    ReserveRequest,
    ReserveResult,
)
from governance.counters.keys import WINDOW_SECONDS

RESERVED = 0
DENIED_RATE = 1
DENIED_CAP = 2
DENIED_BUDGET = 3
ALREADY_RESERVED = 4
_DENIAL_REASONS = {
    DENIED_RATE: RATE_LIMIT_EXCEEDED,
    DENIED_CAP: SPEND_CAP_EXCEEDED,
    DENIED_BUDGET: BUDGET_EXCEEDED,
}


@dataclass(frozen=True, slots=True)
class WindowReading:
    """One rate window after the reserve: its limit, entries in it, its oldest entry's time."""

    limit: int
    count: int
    oldest: float | None


def check_request(req: ReserveRequest) -> None:
    """Refuse amounts that would credit the counters instead of charging them."""
    if req.cost_nano < 0 or (req.user_daily_budget_nano or 0) < 0:
        raise ValueError("cost and budget must not be negative")


def usable_grants(req: ReserveRequest) -> list[GrantSlot]:
    """Unexpired grants, soonest expiry first (grant id breaks ties, as the ledger orders them)."""
    live = [slot for slot in req.grants if slot.expires_at > req.now]
    return sorted(live, key=lambda slot: (slot.expires_at, slot.grant_id))


def _frees_in(reading: WindowReading, now: float) -> float:
    if reading.oldest is None:
        return float(WINDOW_SECONDS)
    return max(0.0, reading.oldest + WINDOW_SECONDS - now)


def build_result(code: int, windows: list[WindowReading], now: float) -> ReserveResult:
    """Turn a store's outcome code and window readings into the ReserveResult."""
    infos = [
        RateInfo(
            limit=w.limit, remaining=max(0, w.limit - w.count), reset_seconds=_frees_in(w, now)
        )
        for w in windows
    ]
    rate = min(infos, key=lambda info: (info.remaining, -info.reset_seconds), default=None)
    if code in (RESERVED, ALREADY_RESERVED):
        return ReserveResult(ok=True, rate=rate)
    if code == DENIED_RATE:
        # The request passes only once every full window has a free slot again.
        full = [info for info, w in zip(infos, windows, strict=True) if w.count >= w.limit]
        blocking = max(full, key=lambda info: info.reset_seconds)
        return ReserveResult(
            ok=False,
            reason=RATE_LIMIT_EXCEEDED,
            retry_after=blocking.reset_seconds,
            rate=blocking,
        )
    return ReserveResult(ok=False, reason=_DENIAL_REASONS[code], rate=rate)
