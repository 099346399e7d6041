"""A real Celery worker process on the Redis broker delivers each alert exactly once,
retrying a webhook that fails, even when the check is enqueued twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import AlertFired, UsageRecord
from governance.services.tenants import update_tenant
from governance.tasks import check_spend_alerts
from tests.fakes.webhook_receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db, redis_client, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "candela.settings",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "candela.celery", "worker",
            "--pool=solo", "--without-heartbeat", "--without-mingle", "--without-gossip",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def test_alert_arrives_once_at_slack_and_teams_with_a_retry(worker, operator, tenant_a):
    with WebhookReceiver() as hooks:
        update_tenant(
            actor=operator,
            tenant=tenant_a,
            daily_cap_usd=Decimal("10"),
            alert_webhooks=[
                {"kind": "slack", "url": hooks.url("/slack/T1/B1/token")},
                {"kind": "teams", "url": hooks.url("/teams/flow")},
            ],
        )
        UsageRecord.objects.create(
            request_id=uuid.uuid4().hex,
            created_at=timezone.now(),
            tenant_id=tenant_a.pk,
            provider="openai",
            decision="allowed",
            cost_usd=Decimal("8.25"),
        )
        hooks.fail_next(1, status=500, path="/slack")

        check_spend_alerts.delay(tenant_a.pk, "openai")
        check_spend_alerts.delay(tenant_a.pk, "openai")  # a second gateway's hook, same spend

        accepted = hooks.wait_for_accepted(2, timeout=60)
        assert len(accepted) == 2, (hooks.deliveries, worker.poll())
        time.sleep(1.5)  # room for a duplicate to show up, were there one
        assert sorted(d.path for d in hooks.accepted) == ["/slack/T1/B1/token", "/teams/flow"]
        assert [(d.path, d.status) for d in hooks.deliveries if d.status != 200] == [
            ("/slack/T1/B1/token", 500)
        ]

    by_path = {d.path: d.body for d in accepted}
    assert "Tenant acme at 80% of its daily spend cap" in by_path["/slack/T1/B1/token"]["text"]
    card = by_path["/teams/flow"]["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert AlertFired.objects.filter(tenant_id=tenant_a.pk, threshold=80).count() == 1
    delivered = AuditEvent.objects.filter(action="alert.delivered").order_by("id")
    assert sorted((e.data["channel"], e.data["attempt"]) for e in delivered) == [
        ("slack", 2),
        ("teams", 1),
    ]
    assert AuditEvent.objects.filter(action="alert.fired").count() == 1


def test_beat_and_the_embedded_runner_schedule_registered_tasks():
    from candela.celery import app
    from candela.periodic import PERIODIC_TASKS, PeriodicRunner

    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert set(schedule) == {path for _, path in PERIODIC_TASKS}
    assert {
        "governance.tasks.check_all_alerts",
        "governance.tasks.expire_grants",
        "governance.tasks.reconcile_counters",
        "audit.tasks.export_to_duckdb",
        "audit.tasks.export_to_bigquery",
    } <= set(schedule)
    for entry in schedule.values():
        assert entry["task"] in app.tasks
    assert len(PeriodicRunner()._jobs) == len(PERIODIC_TASKS)  # every path imports
