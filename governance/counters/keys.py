"""Counter key names, UTC periods and key lifetimes: the one place both stores take them from.

Every key of a tenant carries the hash tag `{t<tenant_id>}`, so all keys one Lua script
touches live in the same Redis Cluster slot, e.g. `candela:{t7}:user:42:day:20261125`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

PREFIX = "candela"
WINDOW_SECONDS = 60
DAILY_BUDGET_BUCKET = "daily"

# Kept a while after their period so a late settle still finds them and views can look back.
PERIOD_GRACE_SECONDS = 2 * 86_400
# A reservation not settled within this time is swept (released) by a later reserve.
RESERVATION_TTL_SECONDS = 3_600
# The reservation record outlives its deadline so a sweep can still undo it after a quiet spell.
RECORD_GRACE_SECONDS = 35 * 86_400


def tenant_prefix(tenant_id: int) -> str:
    return f"{PREFIX}:{{t{int(tenant_id)}}}:"


def user_day(tenant_id: int, user_id: int, day: str) -> str:
    return f"{tenant_prefix(tenant_id)}user:{int(user_id)}:day:{day}"


def tenant_day(tenant_id: int, day: str) -> str:
    return f"{tenant_prefix(tenant_id)}tenant:day:{day}"


def tenant_month(tenant_id: int, month: str) -> str:
    return f"{tenant_prefix(tenant_id)}tenant:month:{month}"


def grant(tenant_id: int, grant_id: int) -> str:
    return f"{tenant_prefix(tenant_id)}grant:{int(grant_id)}"


def grant_bucket(grant_id: int) -> str:
    """The bucket name a grant has in SettleResult.by_bucket."""
    return f"grant:{int(grant_id)}"


def key_window(tenant_id: int, key_id: int) -> str:
    return f"{tenant_prefix(tenant_id)}rate:key:{int(key_id)}"


def user_window(tenant_id: int, user_id: int) -> str:
    return f"{tenant_prefix(tenant_id)}rate:user:{int(user_id)}"


def reservation(tenant_id: int, request_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}res:{request_id}"


def pending(tenant_id: int) -> str:
    """Sorted set of the tenant's open reservations, scored by their sweep deadline."""
    return f"{tenant_prefix(tenant_id)}pending"


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=UTC)


def day_stamp(now: float) -> str:
    return _utc(now).strftime("%Y%m%d")


def month_stamp(now: float) -> str:
    return _utc(now).strftime("%Y%m")


def _seconds_until(end: datetime, now: float) -> int:
    return max(1, math.ceil(end.timestamp() - now))


def day_ttl(now: float) -> int:
    """Seconds a day key lives: to the end of the UTC day of `now`, plus the grace."""
    start = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return _seconds_until(start + timedelta(days=1), now) + PERIOD_GRACE_SECONDS


def month_ttl(now: float) -> int:
    """Seconds a month key lives: to the end of the UTC month of `now`, plus the grace."""
    start = _utc(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return _seconds_until(end, now) + PERIOD_GRACE_SECONDS


def grant_ttl(expires_at: float, now: float) -> int:
    """A grant's counter lives until the grant expires, plus the grace."""
    return max(1, math.ceil(expires_at - now)) + PERIOD_GRACE_SECONDS
