"""The append-only, hash-chained audit trail.

No foreign keys: events keep a snapshot of who and what (ids, names, prefixes),
so deleting a user, key or tenant never touches the trail. Database triggers
(see migrations) refuse UPDATE and DELETE on this table.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from audit.constants import EventKind


class AuditEventQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id: int | None) -> AuditEventQuerySet:
        return self.filter(tenant_id=tenant_id)


class AuditEvent(models.Model):
    """One thing that happened, chained to the previous event by SHA-256."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=24, choices=EventKind.choices, db_index=True)
    action = models.CharField(max_length=64)
    decision = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    tenant_id = models.BigIntegerField(null=True, db_index=True)
    tenant_slug = models.CharField(max_length=64, blank=True)
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(max_length=254, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    key_prefix = models.CharField(max_length=16, blank=True)
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    latency_ms = models.FloatField(default=0)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}:{self.action}"


class ExportWatermark(models.Model):
    """How far a sink has exported the trail: events with id > last_id are still to send."""

    sink = models.CharField(max_length=300, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sink} @ {self.last_id}"
