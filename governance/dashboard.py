"""What the dashboard pages show, computed from the usage ledger and the governed objects.

Pages call one function here each (`overview`, `budget_status`, `my_usage`); the figures come
from the ledger (`UsageRecord`), so they are tenant-correct and survive a Redis restart. The
gateway's live counters may run a few hundred milliseconds ahead (batched ledger writes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from governance.counters import keys
from governance.counters.base import nano_to_usd, usd_to_nano
from governance.models import Grant, UsageRecord
from governance.reconcile import _replay
from governance.services.users import budget_of
from governance.usage import UsageLine, period_bounds, summarise
from tenants.models import Tenant, User

ZERO = Decimal("0")
CHART_DAYS = 30
CHART_WIDTH, CHART_HEIGHT = 600, 160
LEADERBOARD_SIZE = 10


@dataclass(frozen=True)
class Spend:
    """Spend in a period against an optional cap."""

    spent: Decimal
    cap: Decimal | None
    requests: int
    refused: int

    @property
    def percent(self) -> int | None:
        if not self.cap:
            return None
        return min(999, int(self.spent * 100 / self.cap))


@dataclass(frozen=True)
class Outcome:
    decision: str
    reason: str
    count: int


@dataclass(frozen=True)
class Bar:
    day: date
    spend: Decimal
    requests: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: Decimal
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


@dataclass(frozen=True)
class Overview:
    tenant: Tenant | None
    today: Spend
    month: Spend
    by_tenant: list[UsageLine]
    by_user: list[UsageLine]
    by_model: list[UsageLine]
    outcomes: list[Outcome]
    chart: Chart


def _spend(tenant: Tenant | None, period: str, cap: Decimal | None, now: datetime) -> Spend:
    total = summarise(
        group_by="model", period=period, tenant_id=tenant.pk if tenant else None, now=now
    ).total
    return Spend(spent=total.spend_usd, cap=cap, requests=total.requests, refused=total.refused)


def _records(tenant_id: int | None, user_id: int | None = None):
    records = UsageRecord.objects.all()
    if tenant_id is not None:
        records = records.filter(tenant_id=tenant_id)
    if user_id is not None:
        records = records.filter(user_id=user_id)
    return records


def outcomes_today(tenant_id: int | None, *, now: datetime | None = None) -> list[Outcome]:
    """Today's requests by outcome: served, then each refusal or failure reason, biggest first."""
    since, until = period_bounds("day", now=now)
    rows = (
        _records(tenant_id)
        .filter(created_at__gte=since, created_at__lte=until)
        .values("decision", "reason")
        .annotate(count=Count("id"))
        .order_by("-count", "decision", "reason")
    )
    served = [Outcome(r["decision"], "served", r["count"]) for r in rows if not r["reason"]]
    other = [Outcome(r["decision"], r["reason"], r["count"]) for r in rows if r["reason"]]
    return served + other


def spend_chart(
    *,
    tenant_id: int | None,
    user_id: int | None = None,
    days: int = CHART_DAYS,
    now: datetime | None = None,
) -> Chart:
    """Daily spend of the last `days` UTC days (today included) as SVG bar geometry."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    rows = (
        _records(tenant_id, user_id)
        .filter(created_at__gte=datetime(first.year, first.month, first.day, tzinfo=UTC))
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(
            spend=Coalesce(Sum("cost_usd"), Value(ZERO), output_field=DecimalField(max_digits=20)),
            requests=Count("id"),
        )
    )
    by_day = {row["day"]: row for row in rows}
    peak = max((row["spend"] for row in rows), default=ZERO)
    slot = CHART_WIDTH / days
    bars = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day, {"spend": ZERO, "requests": 0})
        # A day with requests but no spend still gets a sliver, so it is visible.
        height = float(row["spend"] / peak) * (CHART_HEIGHT - 10) if peak else 0.0
        if row["requests"] and height < 2:
            height = 2.0
        bars.append(
            Bar(
                day=day,
                spend=row["spend"],
                requests=row["requests"],
                x=round(offset * slot + 1, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(max(slot - 2, 1), 2),
                height=round(height, 2),
            )
        )
    return Chart(bars=bars, peak=peak)


def overview(*, tenant: Tenant | None, now: datetime | None = None) -> Overview:
    """The admin overview: one tenant's (or, for operators, the platform's) spend picture."""
    now = now or timezone.now()
    tenant_id = tenant.pk if tenant else None
    month = summarise(group_by="user", period="month", tenant_id=tenant_id, now=now)
    by_model = summarise(group_by="model", period="month", tenant_id=tenant_id, now=now)
    by_tenant = (
        summarise(group_by="tenant", period="month", now=now).items if tenant is None else []
    )
    return Overview(
        tenant=tenant,
        today=_spend(tenant, "day", tenant.daily_cap_usd if tenant else None, now),
        month=Spend(
            spent=month.total.spend_usd,
            cap=tenant.monthly_cap_usd if tenant else None,
            requests=month.total.requests,
            refused=month.total.refused,
        ),
        by_tenant=by_tenant[:LEADERBOARD_SIZE],
        by_user=month.items[:LEADERBOARD_SIZE],
        by_model=by_model.items[:LEADERBOARD_SIZE],
        outcomes=outcomes_today(tenant_id, now=now),
        chart=spend_chart(tenant_id=tenant_id, now=now),
    )


# --- A developer's own picture (/me/) ------------------------------------------------------


@dataclass(frozen=True)
class GrantBalance:
    grant: Grant
    spent: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.grant.amount_usd - self.spent)


@dataclass(frozen=True)
class BudgetStatus:
    daily_budget: Decimal | None  # None: no per-user daily limit
    spent_today: Decimal
    daily_remaining: Decimal | None
    grants: list[GrantBalance]
    rate_limit_rpm: int | None

    @property
    def grants_remaining(self) -> Decimal:
        return sum((g.remaining for g in self.grants), ZERO)

    @property
    def total_remaining(self) -> Decimal | None:
        if self.daily_remaining is None:
            return None
        return self.daily_remaining + self.grants_remaining


def budget_status(user: User, *, now: datetime | None = None) -> BudgetStatus:
    """Daily budget and live grants, with what the ledger says is left of each.

    Spend beyond the daily budget is drawn from grants, soonest expiry first, exactly as the
    counter store draws it (the same replay rebuilds the counters after a Redis restart).
    """
    now = now or timezone.now()
    budget = budget_of(user)
    day_start, _ = period_bounds("day", now=now)
    spent_today = (
        _records(None, user.pk)
        .filter(created_at__gte=day_start, created_at__lte=now)
        .aggregate(total=Sum("cost_usd"))["total"]
        or ZERO
    )
    grants = list(Grant.objects.filter(user=user, expires_at__gt=now).order_by("expires_at", "id"))
    if budget.daily_budget_usd is None:
        return BudgetStatus(
            daily_budget=None,
            spent_today=spent_today,
            daily_remaining=None,
            grants=[GrantBalance(grant, ZERO) for grant in grants],
            rate_limit_rpm=budget.rate_limit_rpm,
        )
    daily_nano = usd_to_nano(budget.daily_budget_usd)
    spent_nano: dict[int, int] = {}
    used_today = usd_to_nano(spent_today)
    if grants:
        since = min(g.created_at for g in grants).astimezone(UTC)
        since = since.replace(hour=0, minute=0, second=0, microsecond=0)
        charges = (
            _records(None, user.pk)
            .filter(cost_usd__gt=0, created_at__gte=since, created_at__lte=now)
            .order_by("created_at", "id")
            .values_list("created_at", "cost_usd")
        )
        daily, spent_nano = _replay(charges, daily_nano, grants)
        used_today = daily.get(keys.day_stamp(now.timestamp()), 0)
    return BudgetStatus(
        daily_budget=budget.daily_budget_usd,
        spent_today=spent_today,
        daily_remaining=max(ZERO, nano_to_usd(daily_nano - used_today)).normalize(),
        grants=[GrantBalance(g, nano_to_usd(spent_nano.get(g.pk, 0)).normalize()) for g in grants],
        rate_limit_rpm=budget.rate_limit_rpm,
    )


@dataclass(frozen=True)
class MyUsage:
    today: UsageLine
    month: UsageLine
    by_model: list[UsageLine]


def my_usage(user: User, *, now: datetime | None = None) -> MyUsage:
    today = summarise(group_by="model", period="day", user_id=user.pk, now=now)
    month = summarise(group_by="model", period="month", user_id=user.pk, now=now)
    return MyUsage(today=today.total, month=month.total, by_model=month.items)
