"""Spend, tokens and request counts from the usage ledger, grouped by one dimension.

Periods are the current UTC day or UTC month, as budgets and caps count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from audit.constants import Decision
from governance.models import UsageRecord
from tenants.models import Tenant, User

GROUPS = ("tenant", "user", "model", "day")
PERIODS = ("day", "month")
# Policy refusals (402/403/413/422/429…). Upstream failures ("error") are not refusals.
REFUSED = Q(decision=Decision.DENIED)

_TOTALS = {
    "spend_usd": Coalesce(
        Sum("cost_usd"), Value(Decimal("0")), output_field=DecimalField(max_digits=20)
    ),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), Value(0)),
    "completion_tokens": Coalesce(Sum("completion_tokens"), Value(0)),
    "requests": Count("id"),
    "refused": Count("id", filter=REFUSED),
}


@dataclass(frozen=True)
class UsageLine:
    key: str | None
    id: int | None
    spend_usd: Decimal
    prompt_tokens: int
    completion_tokens: int
    requests: int
    refused: int


@dataclass(frozen=True)
class UsageReport:
    group_by: str
    period: str
    since: datetime
    until: datetime
    items: list[UsageLine]
    total: UsageLine

    @property
    def count(self) -> int:
        return len(self.items)


def period_bounds(period: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start of the current UTC day or month, now]."""
    now = (now or timezone.now()).astimezone(UTC)
    start_day = now.date().replace(day=1) if period == "month" else now.date()
    return datetime.combine(start_day, time.min, tzinfo=UTC), now


def _labels(group_by: str, ids: list[int]) -> dict[int, str]:
    if group_by == "tenant":
        return dict(Tenant.objects.filter(pk__in=ids).values_list("pk", "slug"))
    return dict(User.objects.filter(pk__in=ids).values_list("pk", "email"))


def _lines(group_by: str, records: QuerySet[UsageRecord]) -> list[UsageLine]:
    if group_by == "day":
        rows = records.annotate(group=TruncDate("created_at", tzinfo=UTC))
        rows = rows.values("group").annotate(**_TOTALS).order_by("group")
        return [UsageLine(key=row.pop("group").isoformat(), id=None, **row) for row in rows]
    column = {"tenant": "tenant_id", "user": "user_id", "model": "model"}[group_by]
    rows = list(records.values(column).annotate(**_TOTALS).order_by("-spend_usd", column))
    if group_by == "model":
        return [UsageLine(key=row.pop("model"), id=None, **row) for row in rows]
    labels = _labels(group_by, [row[column] for row in rows if row[column] is not None])
    lines = []
    for row in rows:
        ident = row.pop(column)
        lines.append(UsageLine(key=labels.get(ident), id=ident, **row))
    return lines


def summarise(
    *,
    group_by: str,
    period: str,
    tenant_id: int | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> UsageReport:
    """Usage in the current period, optionally confined to one tenant and/or user."""
    if group_by not in GROUPS or period not in PERIODS:
        raise ValueError(f"group_by must be one of {GROUPS}, period one of {PERIODS}")
    since, until = period_bounds(period, now=now)
    records = UsageRecord.objects.filter(created_at__gte=since, created_at__lte=until)
    if tenant_id is not None:
        records = records.filter(tenant_id=tenant_id)
    if user_id is not None:
        records = records.filter(user_id=user_id)
    total = records.aggregate(**_TOTALS)
    return UsageReport(
        group_by=group_by,
        period=period,
        since=since,
        until=until,
        items=_lines(group_by, records),
        total=UsageLine(key=None, id=None, **total),
    )
