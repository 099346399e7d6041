"""Rebuild the Redis spend counters of the current UTC day and month from the ledger.

Redis holds the live counters (governance/counters/keys.py); the ledger (`UsageRecord`)
holds every charge durably. If Redis restarts empty, or loses keys, the budget gate would
forget the day's spend. This job recomputes, from the ledger, what each counter must hold
at least and raises it there (a Lua script per key: `SET` only if the key is missing or
lower; never lowered, because a live counter also holds reservations in flight and charges
the ledger has not received yet). The ledger rounds each charge up to the micro-dollar
while counters keep nano-dollars, so a counter within that rounding of the ledger (1000 nano
per charge) is left alone: in steady state the job writes nothing and races no request.
Keys written, in integer nano-USD:

- `tenant_day(t, YYYYMMDD)`, `tenant_month(t, YYYYMM)`: every charge of the tenant in the UTC
  day / month;
- `user_day(t, u, YYYYMMDD)`: the part of the user's charges today paid by the daily budget;
- `grant(t, g)`: what has been spent of each unexpired grant.

Grant spend is not in the ledger as such, so it is replayed: the user's charges since the
grants began, in order, fill that UTC day's daily budget first, then the grants live at the
time, soonest expiry first; what is left over goes to the daily bucket (as a settle above
the reservation does). Users without a daily budget are unlimited: everything is daily.
Lifetimes are those the stores give (day_ttl, month_ttl, grant_ttl).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import redis
from django.conf import settings
from django.db.models import Count, Sum

from governance.counters import keys
from governance.counters.base import usd_to_nano
from governance.models import Budget, Grant, UsageRecord

# The ledger keeps micro-dollars rounded up per charge: up to 1000 nano above the counters.
ROUNDING_NANO = 1000

RAISE_TO = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if current < 0 or current + tonumber(ARGV[3]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class CounterValue:
    key: str
    nano: int
    ttl: int
    charges: int  # ledger rows behind it: its rounding tolerance

    @property
    def tolerance(self) -> int:
        return self.charges * ROUNDING_NANO


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=UTC)


def _day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _charges(**filters):
    return UsageRecord.objects.filter(cost_usd__gt=0, tenant_id__isnull=False, **filters)


def _totals(start: datetime, end: datetime, *group: str):
    return (
        _charges(created_at__gte=start, created_at__lte=end)
        .values(*group)
        .annotate(total=Sum("cost_usd"), charges=Count("id"))
    )


def _tenant_totals(now: float) -> list[CounterValue]:
    moment = _utc(now)
    day_start = _day_start(moment)
    day, month = keys.day_stamp(now), keys.month_stamp(now)
    values = [
        CounterValue(
            keys.tenant_day(row["tenant_id"], day),
            usd_to_nano(row["total"]),
            keys.day_ttl(now),
            row["charges"],
        )
        for row in _totals(day_start, moment, "tenant_id")
    ]
    values += [
        CounterValue(
            keys.tenant_month(row["tenant_id"], month),
            usd_to_nano(row["total"]),
            keys.month_ttl(now),
            row["charges"],
        )
        for row in _totals(day_start.replace(day=1), moment, "tenant_id")
    ]
    return values


def _replay(
    charges: Iterable[tuple[datetime, Decimal]], budget_nano: int, grants: list[Grant]
) -> tuple[dict[str, int], dict[int, int]]:
    """(daily bucket per UTC day stamp, spent per grant id) for the user's charges in order."""
    daily: dict[str, int] = defaultdict(int)
    spent = {grant.pk: 0 for grant in grants}
    amounts = {grant.pk: usd_to_nano(grant.amount_usd) for grant in grants}
    for created_at, cost in charges:
        day = keys.day_stamp(created_at.timestamp())
        left = usd_to_nano(cost)
        take = min(left, max(0, budget_nano - daily[day]))
        daily[day] += take
        left -= take
        for grant in grants:  # soonest expiry first
            if left <= 0:
                break
            if grant.created_at <= created_at < grant.expires_at:
                take = min(left, amounts[grant.pk] - spent[grant.pk])
                spent[grant.pk] += take
                left -= take
        daily[day] += left
    return daily, spent


def _grant_users(moment: datetime) -> dict[int, list[Grant]]:
    """Users with a grant live at some point today (it changes how today's spend splits)."""
    grants = Grant.objects.filter(expires_at__gt=_day_start(moment), created_at__lte=moment)
    by_user: dict[int, list[Grant]] = defaultdict(list)
    for grant in grants.select_related("user").order_by("expires_at", "id"):
        by_user[grant.user_id].append(grant)
    return by_user


def _user_totals(now: float) -> list[CounterValue]:
    moment = _utc(now)
    day, ttl = keys.day_stamp(now), keys.day_ttl(now)
    today = {
        (row["tenant_id"], row["user_id"]): (usd_to_nano(row["total"]), row["charges"])
        for row in _totals(_day_start(moment), moment, "tenant_id", "user_id")
        if row["user_id"] is not None
    }
    tenant_of = {user_id: tenant_id for tenant_id, user_id in today}
    values: list[CounterValue] = []
    by_user = _grant_users(moment)
    budgets = dict(
        Budget.objects.filter(user_id__in=list(by_user)).values_list("user_id", "daily_budget_usd")
    )
    for user_id, grants in by_user.items():
        budget = budgets.get(user_id)
        tenant_id = tenant_of.get(user_id) or grants[0].user.tenant_id
        if budget is None or tenant_id is None:
            continue  # unlimited users never draw on grants
        since = _day_start(min(grant.created_at for grant in grants))
        charges = list(
            _charges(user_id=user_id, created_at__gte=since, created_at__lte=moment)
            .order_by("created_at", "id")
            .values_list("created_at", "cost_usd")
        )
        daily, spent = _replay(charges, usd_to_nano(budget), grants)
        if (tenant_id, user_id) in today:
            today[(tenant_id, user_id)] = (daily[day], today[(tenant_id, user_id)][1])
        values += [
            CounterValue(
                keys.grant(tenant_id, grant.pk),
                spent[grant.pk],
                keys.grant_ttl(grant.expires_at.timestamp(), now),
                len(charges),
            )
            for grant in grants
            if grant.expires_at.timestamp() > now
        ]
    values += [
        CounterValue(keys.user_day(tenant_id, user_id, day), nano, ttl, count)
        for (tenant_id, user_id), (nano, count) in today.items()
    ]
    return values


def ledger_counters(now: float | None = None) -> list[CounterValue]:
    """What every counter of the current day/month must hold at least, per the ledger.

    Also what an in-process store could be seeded with when the embedded server starts.
    """
    now = time.time() if now is None else now
    return [value for value in _tenant_totals(now) + _user_totals(now) if value.nano > 0]


def reconcile_counters(*, now: float | None = None, client: redis.Redis | None = None) -> int:
    """Raise Redis counters that are missing or below the ledger; returns how many were."""
    if client is None and not settings.REDIS_URL:
        return 0  # embedded: the in-process store lives and dies with the process
    own = client is None
    client = client or redis.Redis.from_url(settings.REDIS_URL)
    try:
        raise_to = client.register_script(RAISE_TO)
        return sum(
            int(raise_to(keys=[value.key], args=[value.nano, value.ttl, value.tolerance]))
            for value in ledger_counters(now)
        )
    finally:
        if own:
            client.close()
