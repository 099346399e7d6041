"""Expiring budget grants."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.constants import EventKind
from audit.services import record_admin_action, record_event
from governance.models import Grant
from governance.services.changes import diff, snapshot
from tenants.models import User


def create_grant(
    *, actor, user: User, amount_usd: Decimal, expires_at: datetime, reason: str = ""
) -> Grant:
    with transaction.atomic():
        grant = Grant(
            user=user,
            amount_usd=amount_usd,
            remaining_usd=amount_usd,
            expires_at=expires_at,
            reason=reason,
        )
        grant.full_clean()
        grant.save()
        record_admin_action(
            actor=actor,
            action="grant.create",
            target=grant,
            tenant=user.tenant,
            changes=diff({}, snapshot(grant)),
        )
    return grant


def expire_grants(*, now: datetime | None = None) -> int:
    """Close grants past their expiry: balance to zero, one `grant.expired` event each.

    Zeroing is what makes it once-only (the next run skips them); saving the grant bumps the
    policy version (governance.signals), so gateways drop it from their snapshot at once.
    """
    now = now or timezone.now()
    expired = 0
    due = Grant.objects.filter(expires_at__lte=now, remaining_usd__gt=0)
    for grant_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            grant = (
                Grant.objects.select_for_update().filter(pk=grant_id, remaining_usd__gt=0).first()
            )
            if grant is None:  # another worker closed it meanwhile
                continue
            before = snapshot(grant)
            grant.remaining_usd = Decimal("0")
            grant.save(update_fields=["remaining_usd"])
            record_event(
                kind=EventKind.POLICY_DECISION,
                action="grant.expired",
                actor_name="candela",
                tenant=grant.user.tenant,
                target_type="governance.grant",
                target_id=str(grant.pk),
                target_repr=str(grant)[:200],
                changes=diff(before, snapshot(grant)),
                data={"user_id": grant.user_id, "expires_at": grant.expires_at.isoformat()},
            )
            expired += 1
    return expired
