"""Spend alerts: thresholds from the ledger, once per period per target, Slack and Teams."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from governance import alerts
from governance.models import AlertFired, UsageRecord
from governance.services.providers import create_provider
from governance.services.tenants import update_tenant
from governance.tasks import check_spend_alerts
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 5, 20, 15, 30, tzinfo=UTC)


def spend(tenant_id, cost: str, *, at: datetime = NOW, provider: str = "openai") -> None:
    UsageRecord.objects.create(
        request_id=uuid.uuid4().hex,
        created_at=at,
        tenant_id=tenant_id,
        provider=provider,
        decision="allowed",
        cost_usd=Decimal(cost),
    )


@pytest.fixture
def hooks():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def capped(operator, tenant_a, hooks):
    return update_tenant(
        actor=operator,
        tenant=tenant_a,
        daily_cap_usd=Decimal("10"),
        monthly_cap_usd=Decimal("100"),
        alert_webhooks=[
            {"kind": "slack", "url": hooks.url("/slack/T0/B0/secret-token")},
            {"kind": "teams", "url": hooks.url("/teams/secret-workflow")},
        ],
    )


def deliver_all(deliveries) -> None:
    for d in deliveries:
        alerts.deliver(alert_id=d.alert_id, kind=d.kind, url=d.url)


def test_tenant_daily_threshold_fires_once_to_slack_and_teams(capped, hooks, settings):
    settings.CANDELA_PLATFORM_WEBHOOKS = [hooks.url("/platform/slack")]
    spend(capped.pk, "7.99")
    assert alerts.check_spend(tenant_id=capped.pk, now=NOW) == []

    spend(capped.pk, "0.51")  # $8.50 of $10: past 80%
    deliveries = alerts.check_spend(tenant_id=capped.pk, now=NOW)
    assert sorted(d.kind for d in deliveries) == ["slack", "slack", "teams"]
    deliver_all(deliveries)
    # Checked again (another request, another process): nothing new.
    assert alerts.check_spend(tenant_id=capped.pk, now=NOW) == []

    got = {d.path: d.body for d in hooks.accepted}
    assert set(got) == {"/slack/T0/B0/secret-token", "/teams/secret-workflow", "/platform/slack"}
    slack = got["/slack/T0/B0/secret-token"]["text"]
    assert "Tenant acme at 80% of its daily spend cap" in slack
    assert "$8.50 of its $10.00" in slack and "2031-05-20" in slack
    card = got["/teams/secret-workflow"]
    assert card["type"] == "message"
    (attachment,) = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = attachment["content"]
    assert content["type"] == "AdaptiveCard"
    facts = {f["title"]: f["value"] for f in content["body"][2]["facts"]}
    assert facts == {
        "Threshold": "80%",
        "Spend": "$8.50",
        "Limit": "$10.00",
        "Period (UTC)": "2031-05-20",
    }
    assert got["/platform/slack"] == slack_body(got)

    fired = AuditEvent.objects.get(kind="alert", action="alert.fired")
    assert (fired.tenant_id, fired.tenant_slug) == (capped.pk, "acme")
    assert fired.data["threshold"] == 80 and fired.data["spend_usd"] == "8.500000"
    delivered = AuditEvent.objects.filter(kind="alert", action="alert.delivered")
    assert delivered.count() == 3
    assert {e.data["channel"] for e in delivered} == {"slack", "teams"}
    stored = repr(list(AuditEvent.objects.filter(kind="alert").values()))
    assert "secret" not in stored  # webhook paths are credentials: host only


def slack_body(got):
    return got["/slack/T0/B0/secret-token"]


def test_hundred_percent_and_monthly_cap_and_next_day(capped, hooks):
    spend(capped.pk, "10")  # straight to 100% of the daily cap
    (delivery, _) = alerts.check_spend(tenant_id=capped.pk, now=NOW)
    alert = AlertFired.objects.get(pk=delivery.alert_id)
    assert (alert.target, alert.threshold) == (f"tenant:{capped.pk}:daily", 100)
    # 80% was claimed with it (it can no longer fire today) but only one message is sent.
    assert set(AlertFired.objects.values_list("threshold", flat=True)) == {80, 100}

    # Earlier days of the month add up to the monthly cap: 70 + 10 = 80 of 100.
    spend(capped.pk, "70", at=NOW - timedelta(days=3))
    monthly = alerts.check_spend(tenant_id=capped.pk, now=NOW)
    assert {AlertFired.objects.get(pk=d.alert_id).target for d in monthly} == {
        f"tenant:{capped.pk}:monthly"
    }

    # A new UTC day: the daily thresholds can fire again.
    tomorrow = NOW + timedelta(days=1)
    spend(capped.pk, "9", at=tomorrow)
    again = alerts.check_spend(tenant_id=capped.pk, now=tomorrow)
    assert {
        (a.target, a.threshold, a.period)
        for a in AlertFired.objects.filter(pk__in=[d.alert_id for d in again])
    } == {(f"tenant:{capped.pk}:daily", 80, "2031-05-21")}


def test_custom_threshold_and_no_cap_means_no_alert(operator, tenant_a, tenant_b):
    update_tenant(
        actor=operator, tenant=tenant_a, daily_cap_usd=Decimal("10"), alert_threshold_pct=50
    )
    spend(tenant_a.pk, "5")
    spend(tenant_b.pk, "5000")  # no caps at all
    assert alerts.check_all(now=NOW) == []  # no webhooks: claimed, nothing to send
    assert list(AlertFired.objects.values_list("target", "threshold")) == [
        (f"tenant:{tenant_a.pk}:daily", 50)
    ]


def test_provider_budget_thresholds(operator, hooks, settings):
    settings.CANDELA_PLATFORM_WEBHOOKS = [f"teams+{hooks.url('/ops')}"]
    create_provider(
        actor=operator,
        name="openai",
        kind="openai",
        base_url="https://api.openai.com/v1",
        monthly_budget_usd=Decimal("100"),
    )
    spend(None, "69.99")
    assert alerts.check_spend(provider_name="openai", now=NOW) == []
    spend(None, "5")
    first = alerts.check_spend(provider_name="openai", now=NOW)
    spend(None, "20", at=NOW - timedelta(days=10))  # $94.99: 80 and 90 at once
    second = alerts.check_spend(provider_name="openai", now=NOW)
    spend(None, "5.01")
    third = alerts.check_all(now=NOW)
    deliver_all(first + second + third)

    thresholds = [AlertFired.objects.get(pk=d.alert_id).threshold for d in first + second + third]
    assert thresholds == [70, 90, 100]
    assert sorted(AlertFired.objects.values_list("threshold", flat=True)) == [70, 80, 90, 100]
    cards = [d.body["attachments"][0]["content"]["body"][0]["text"] for d in hooks.accepted]
    assert cards == [
        "Candela: Provider openai at 70% of its monthly budget",
        "Candela: Provider openai at 90% of its monthly budget",
        "Candela: Provider openai reached its monthly budget",
    ]
    # Next month starts from zero.
    assert alerts.check_spend(provider_name="openai", now=NOW + timedelta(days=20)) == []


def test_platform_webhook_kinds():
    assert alerts.platform_webhook("https://hooks.slack.com/services/T/B/x") == (
        "slack",
        "https://hooks.slack.com/services/T/B/x",
    )
    assert alerts.platform_webhook("https://acme.webhook.office.com/webhookb2/x")[0] == "teams"
    assert (
        alerts.platform_webhook("https://prod-1.westus.logic.azure.com/workflows/x")[0] == "teams"
    )
    assert alerts.platform_webhook("teams+http://127.0.0.1:9/x") == (
        "teams",
        "http://127.0.0.1:9/x",
    )
    assert alerts.platform_webhook("slack+https://teams.example/x") == (
        "slack",
        "https://teams.example/x",
    )


@pytest.fixture
def eager():
    """Tasks run in process, as in the embedded mode."""
    from candela.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_in_process_delivery_retries_then_records_undelivered(capped, hooks, eager, monkeypatch):
    monkeypatch.setattr(alerts, "IN_PROCESS_RETRY_PAUSE", 0.01)
    spend(capped.pk, "9", at=datetime.now(UTC))
    hooks.fail_next(1, status=503, path="/slack")  # Slack fails once
    hooks.fail_next(3, path="/teams")  # Teams fails every attempt
    assert check_spend_alerts(capped.pk, "") == 2

    assert [(d.path.split("/")[1], d.status) for d in hooks.deliveries] == [
        ("slack", 503),
        ("slack", 200),
        ("teams", 500),
        ("teams", 500),
        ("teams", 500),
    ]
    ok = AuditEvent.objects.get(action="alert.delivered")
    assert (ok.data["channel"], ok.data["attempt"]) == ("slack", 2)
    failed = AuditEvent.objects.get(action="alert.undelivered")
    assert failed.decision == "failed"
    assert (failed.data["channel"], failed.data["error"], failed.data["attempt"]) == (
        "teams",
        "HTTP 500",
        3,
    )
    assert failed.data["host"] == hooks.url("").rstrip("/")
    assert "secret" not in repr(failed.data)


def test_unreachable_webhook_fails_without_naming_the_url(capped, db):
    spend(capped.pk, "9")
    (delivery, _) = alerts.check_spend(tenant_id=capped.pk, now=NOW)
    with pytest.raises(alerts.WebhookFailed) as excinfo:
        alerts.deliver(alert_id=delivery.alert_id, kind="slack", url="http://127.0.0.1:9/secret")
    assert str(excinfo.value) == "ConnectError"


def test_check_after_spend_schedules_one_check_per_window(redis_client, settings, tenant_a):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert alerts.check_after_spend(tenant_a.pk, "openai") is True
    assert alerts.check_after_spend(tenant_a.pk, "openai") is False
    assert alerts.check_after_spend(tenant_a.pk, "anthropic") is True
    assert redis_client.llen("celery") == 2  # two messages for the workers
    ttl = redis_client.ttl(f"candela:alerts:pending:{tenant_a.pk}:openai")
    assert 0 < ttl <= alerts.DEBOUNCE_SECONDS

    settings.CELERY_TASK_ALWAYS_EAGER = True  # embedded: the periodic sweep does it
    assert alerts.check_after_spend(tenant_a.pk, "mistral") is False


def test_check_task_twice_fires_once(capped, hooks, eager):
    spend(capped.pk, "9", at=datetime.now(UTC))
    assert check_spend_alerts(capped.pk, "") == 2
    assert check_spend_alerts(capped.pk, "") == 0
    assert len(hooks.accepted) == 2
