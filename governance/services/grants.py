"""Expiring budget grants."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from audit.services import record_admin_action
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
