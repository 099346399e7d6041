"""Background jobs of governance: spend alerts, grant expiry, counter reconciliation.

Celery tasks (worker + beat in production); embedded, `candela/periodic.py` calls the
periodic ones in process. Each is thin: ids in, one service call, safe to run twice.
"""

from __future__ import annotations

from celery import Task, shared_task

from governance import alerts, reconcile
from governance.services.grants import expire_grants as expire_due_grants

# A webhook that keeps failing is retried 1, 2, 4, … 32 s apart, then given up (and audited).
DELIVERY_RETRIES = 6


def _enqueue(deliveries: list[alerts.Delivery]) -> int:
    eager = deliver_alert.app.conf.task_always_eager
    for d in deliveries:
        if eager:
            # Embedded: no worker to retry later (and Celery's eager retries give up when
            # errors propagate), so deliver here; a dead webhook never stops the others.
            alerts.deliver_in_process(alert_id=d.alert_id, kind=d.kind, url=d.url)
        else:
            deliver_alert.delay(alert_id=d.alert_id, kind=d.kind, url=d.url)
    return len(deliveries)


@shared_task
def check_spend_alerts(tenant_id: int | None = None, provider_name: str = "") -> int:
    """After spend: fire crossed thresholds of this tenant and provider; deliveries queued."""
    return _enqueue(alerts.check_spend(tenant_id=tenant_id, provider_name=provider_name))


@shared_task
def check_all_alerts() -> int:
    return _enqueue(alerts.check_all())


class WebhookTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # Called once, after the last retry: the alert was not delivered to this webhook.
        alerts.record_undelivered(**kwargs, error=exc, attempts=self.request.retries + 1)


@shared_task(
    bind=True,
    base=WebhookTask,
    autoretry_for=(alerts.WebhookFailed,),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=False,
    max_retries=DELIVERY_RETRIES,
)
def deliver_alert(self, *, alert_id: int, kind: str, url: str) -> None:
    alerts.deliver(alert_id=alert_id, kind=kind, url=url, attempt=self.request.retries + 1)


@shared_task
def expire_grants() -> int:
    return expire_due_grants()


@shared_task
def reconcile_counters() -> int:
    return reconcile.reconcile_counters()
