"""Spend alerts: tenant caps and provider monthly budgets, each threshold once per period.

Spend comes from the durable ledger (`UsageRecord.cost_usd`), never from Redis, so an alert
is right even after a counter-store restart. Thresholds:

- a tenant's daily and monthly caps: at `alert_threshold_pct` (default 80) and at 100%;
- a provider's `monthly_budget_usd`: at 70, 80, 90 and 100%.

An `AlertFired(target, threshold, period)` row (unique) claims a threshold, so it fires once
per UTC day/month however many checks run, in however many processes. When one check
crosses several thresholds at once, all are claimed and one message is sent, for the
highest. Messages go to the tenant's `alert_webhooks` (tenant alerts only) and to every
platform webhook (`CANDELA_PLATFORM_WEBHOOKS`, all alerts). Each platform URL is Slack
format unless it starts with `teams+` (`teams+https://…`) or its host looks like Teams
(`office.com`, `teams`, `logic.azure.com` Workflows); `slack+https://…` forces Slack.
Claims, deliveries and final failures are `alert` audit events (webhook host only: the
rest of a webhook URL is a secret).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from audit.constants import EventKind
from audit.services import record_event
from governance.models import AlertFired, Provider, UsageRecord
from tenants.models import Tenant

log = logging.getLogger(__name__)

PROVIDER_THRESHOLDS = (70, 80, 90, 100)
# check_after_spend: at most one check per tenant/provider per window, run at its end.
DEBOUNCE_SECONDS = 5
WEBHOOK_TIMEOUT = httpx.Timeout(5.0)
TEAMS_HOST_MARKERS = ("office.com", "teams", "logic.azure.com")
CENTS = Decimal("0.01")
IN_PROCESS_RETRY_PAUSE = 0.5  # seconds, times the attempt number


@dataclass(frozen=True)
class Breach:
    target: str  # "tenant:7:daily" | "tenant:7:monthly" | "provider:openai"
    thresholds: tuple[int, ...]  # crossed, ascending
    period: str
    tenant_id: int | None
    spend: Decimal
    limit: Decimal


@dataclass(frozen=True)
class Delivery:
    alert_id: int
    kind: str  # "slack" | "teams"
    url: str


# --- periods and spend from the ledger ------------------------------------------------


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(now: datetime) -> datetime:
    return _day_start(now).replace(day=1)


def _spend(**filters) -> Decimal:
    total = UsageRecord.objects.filter(**filters).aggregate(total=Sum("cost_usd"))["total"]
    return total or Decimal("0")


def _crossed(spend: Decimal, limit: Decimal | None, thresholds: Iterable[int]) -> tuple[int, ...]:
    if not limit or limit <= 0:
        return ()
    return tuple(t for t in sorted(set(thresholds)) if spend * 100 >= limit * t)


def tenant_breaches(tenant: Tenant, now: datetime) -> list[Breach]:
    thresholds = (tenant.alert_threshold_pct, 100)
    day, month = _day_start(now), _month_start(now)
    breaches = []
    for scope, limit, start, period in (
        ("daily", tenant.daily_cap_usd, day, day.strftime("%Y-%m-%d")),
        ("monthly", tenant.monthly_cap_usd, month, month.strftime("%Y-%m")),
    ):
        if not limit:
            continue
        spend = _spend(tenant_id=tenant.pk, created_at__gte=start, created_at__lte=now)
        crossed = _crossed(spend, limit, thresholds)
        if crossed:
            target = f"tenant:{tenant.pk}:{scope}"
            breaches.append(Breach(target, crossed, period, tenant.pk, spend, limit))
    return breaches


def provider_breaches(provider: Provider, now: datetime) -> list[Breach]:
    month = _month_start(now)
    spend = _spend(provider=provider.name, created_at__gte=month, created_at__lte=now)
    crossed = _crossed(spend, provider.monthly_budget_usd, PROVIDER_THRESHOLDS)
    if not crossed:
        return []
    target = f"provider:{provider.name}"
    return [
        Breach(target, crossed, month.strftime("%Y-%m"), None, spend, provider.monthly_budget_usd)
    ]


# --- firing once ---------------------------------------------------------------------


def _claim(breach: Breach, threshold: int) -> AlertFired | None:
    try:
        with transaction.atomic():
            return AlertFired.objects.create(
                target=breach.target,
                threshold=threshold,
                period=breach.period,
                tenant_id=breach.tenant_id,
                spend_usd=breach.spend,
                limit_usd=breach.limit,
            )
    except IntegrityError:  # another check claimed it first
        return None


def fire(breach: Breach) -> AlertFired | None:
    """Claim every crossed threshold not yet claimed; the highest new one is announced."""
    with transaction.atomic():
        claimed = [alert for t in breach.thresholds if (alert := _claim(breach, t))]
        if not claimed:
            return None
        alert = claimed[-1]
        record_event(
            kind=EventKind.ALERT,
            action="alert.fired",
            tenant_id=breach.tenant_id,
            tenant_slug=_tenant_slug(breach.tenant_id),
            actor_name="candela",
            **_target(alert),
            data={**_facts(alert), "claimed": [a.threshold for a in claimed]},
        )
        return alert


def destinations(alert: AlertFired) -> list[tuple[str, str]]:
    """(kind, url) for every webhook this alert goes to."""
    found: list[tuple[str, str]] = []
    if alert.tenant_id is not None:
        tenant = Tenant.objects.filter(pk=alert.tenant_id).first()
        for hook in (tenant.alert_webhooks if tenant else []) or []:
            found.append((hook["kind"], hook["url"]))
    found.extend(platform_webhook(raw) for raw in settings.CANDELA_PLATFORM_WEBHOOKS)
    return list(dict.fromkeys(found))


def platform_webhook(raw: str) -> tuple[str, str]:
    for kind in ("teams", "slack"):
        if raw.startswith(f"{kind}+"):
            return kind, raw[len(kind) + 1 :]
    host = (urlsplit(raw).hostname or "").lower()
    return ("teams" if any(m in host for m in TEAMS_HOST_MARKERS) else "slack"), raw


def _check(breaches: Iterable[Breach]) -> list[Delivery]:
    deliveries = []
    for breach in breaches:
        alert = fire(breach)
        if alert is not None:
            deliveries += [Delivery(alert.pk, kind, url) for kind, url in destinations(alert)]
    return deliveries


def check_spend(
    *, tenant_id: int | None = None, provider_name: str = "", now: datetime | None = None
) -> list[Delivery]:
    """Fire what this tenant's and this provider's spend has crossed; what to deliver."""
    now = now or timezone.now()
    breaches: list[Breach] = []
    tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id is not None else None
    if tenant is not None:
        breaches += tenant_breaches(tenant, now)
    provider = Provider.objects.filter(name=provider_name).first() if provider_name else None
    if provider is not None:
        breaches += provider_breaches(provider, now)
    return _check(breaches)


def check_all(*, now: datetime | None = None) -> list[Delivery]:
    """The periodic sweep: every tenant with a cap and every provider with a budget."""
    now = now or timezone.now()
    breaches: list[Breach] = []
    month = _month_start(now)
    active = set(
        UsageRecord.objects.filter(created_at__gte=month, cost_usd__gt=0)
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    capped = Tenant.objects.filter(pk__in=active).exclude(daily_cap_usd=None, monthly_cap_usd=None)
    for tenant in capped:
        breaches += tenant_breaches(tenant, now)
    for provider in Provider.objects.exclude(monthly_budget_usd=None):
        breaches += provider_breaches(provider, now)
    return _check(breaches)


# --- messages and delivery ---------------------------------------------------------


def _tenant_slug(tenant_id: int | None) -> str:
    if tenant_id is None:
        return ""
    return Tenant.objects.filter(pk=tenant_id).values_list("slug", flat=True).first() or ""


def _target(alert: AlertFired) -> dict[str, str]:
    return {
        "target_type": "governance.alertfired",
        "target_id": str(alert.pk),
        "target_repr": str(alert)[:200],
    }


def _facts(alert: AlertFired) -> dict[str, str | int]:
    return {
        "target": alert.target,
        "threshold": alert.threshold,
        "period": alert.period,
        "spend_usd": f"{alert.spend_usd:f}",
        "limit_usd": f"{alert.limit_usd:f}",
    }


def describe(alert: AlertFired) -> tuple[str, str]:
    """(title, sentence) for the alert, in plain words."""
    spend, limit = alert.spend_usd.quantize(CENTS), alert.limit_usd.quantize(CENTS)
    kind, name, *scope = alert.target.split(":")
    if kind == "tenant":
        who = f"Tenant {_tenant_slug(alert.tenant_id) or name}"
        what = f"{scope[0]} spend cap"
    else:
        who, what = f"Provider {name}", "monthly budget"
    reached = "reached" if alert.threshold >= 100 else f"at {alert.threshold}% of"
    title = f"Candela: {who} {reached} its {what}"
    return title, f"{who} has spent ${spend} of its ${limit} {what} ({alert.period}, UTC)."


def slack_payload(alert: AlertFired) -> dict:
    title, sentence = describe(alert)
    return {"text": f":warning: *{title}*\n{sentence}"}


def teams_payload(alert: AlertFired) -> dict:
    """A Teams message with an Adaptive Card (Workflows webhooks and bots accept it)."""
    title, sentence = describe(alert)
    facts = [
        {"title": "Threshold", "value": f"{alert.threshold}%"},
        {"title": "Spend", "value": f"${alert.spend_usd.quantize(CENTS)}"},
        {"title": "Limit", "value": f"${alert.limit_usd.quantize(CENTS)}"},
        {"title": "Period (UTC)", "value": alert.period},
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": sentence, "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


class WebhookFailed(Exception):
    """A webhook did not accept an alert. The message never holds the URL (a secret)."""


def deliver(*, alert_id: int, kind: str, url: str, attempt: int = 1) -> None:
    """POST the alert to one webhook; raises WebhookFailed when it is not accepted."""
    alert = AlertFired.objects.get(pk=alert_id)
    payload = teams_payload(alert) if kind == "teams" else slack_payload(alert)
    try:
        response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT)
    except httpx.HTTPError as exc:
        # httpx's messages name the URL; keep it out of logs and task results.
        raise WebhookFailed(type(exc).__name__) from None
    if not response.is_success:
        raise WebhookFailed(f"HTTP {response.status_code}")
    _record_delivery(alert, kind, url, "alert.delivered", attempt=attempt)


def deliver_in_process(*, alert_id: int, kind: str, url: str, attempts: int = 3) -> bool:
    """Embedded mode (no worker): deliver now with quick retries; False if it never went."""
    for attempt in range(1, attempts + 1):
        try:
            deliver(alert_id=alert_id, kind=kind, url=url, attempt=attempt)
            return True
        except WebhookFailed as exc:
            if attempt == attempts:
                record_undelivered(
                    alert_id=alert_id, kind=kind, url=url, error=exc, attempts=attempt
                )
                return False
            time.sleep(IN_PROCESS_RETRY_PAUSE * attempt)
    return False


def record_undelivered(
    *, alert_id: int, kind: str, url: str, error: BaseException, attempts: int
) -> None:
    """The last retry failed: say so in the trail."""
    alert = AlertFired.objects.filter(pk=alert_id).first()
    if alert is None:
        return
    reason = str(error) if isinstance(error, WebhookFailed) else type(error).__name__
    _record_delivery(alert, kind, url, "alert.undelivered", attempt=attempts, error=reason)


def _record_delivery(alert: AlertFired, kind: str, url: str, action: str, **extra) -> None:
    parts = urlsplit(url)
    record_event(
        kind=EventKind.ALERT,
        action=action,
        decision="delivered" if action == "alert.delivered" else "failed",
        tenant_id=alert.tenant_id,
        tenant_slug=_tenant_slug(alert.tenant_id),
        actor_name="candela",
        **_target(alert),
        data={
            **_facts(alert),
            "channel": kind,
            "host": f"{parts.scheme}://{parts.netloc}",
            **extra,
        },
    )


# --- the gateway's hook ------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def check_after_spend(tenant_id: int | None, provider_name: str = "") -> bool:
    """Schedule an alert check after a settled request; True when one was scheduled.

    Cheap and safe to call after every request, from a worker thread (it does blocking
    Redis I/O, so not on the event loop): a Redis SET NX with a short TTL lets one check
    per tenant/provider through per DEBOUNCE_SECONDS, and that check runs at the end of
    the window, so it sees every request of the window in the ledger. Embedded (tasks run
    in process) it schedules nothing: the periodic sweep checks every minute instead, so
    no request waits for a webhook. Failures are logged and swallowed: alerts are
    observability, never a reason to fail a request.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL:
        return False
    from governance.tasks import check_spend_alerts  # the tasks module imports this one

    key = f"candela:alerts:pending:{tenant_id}:{provider_name}"
    try:
        if not _redis(settings.REDIS_URL).set(key, "1", nx=True, ex=DEBOUNCE_SECONDS):
            return False
        check_spend_alerts.apply_async((tenant_id, provider_name), countdown=DEBOUNCE_SECONDS)
        return True
    except (redis.RedisError, BrokerUnavailable):
        log.warning("alert check for tenant %s not scheduled; the sweep will catch up", tenant_id)
        return False
