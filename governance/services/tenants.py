"""Tenant lifecycle."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import record_admin_action
from governance.services.changes import apply_changes, diff, snapshot
from tenants.models import Tenant


def create_tenant(*, actor, **fields: Any) -> Tenant:
    with transaction.atomic():
        tenant = Tenant(**fields)
        tenant.full_clean()
        tenant.save()
        record_admin_action(
            actor=actor,
            action="tenant.create",
            target=tenant,
            tenant=tenant,
            changes=diff({}, snapshot(tenant)),
        )
    return tenant


def update_tenant(*, actor, tenant: Tenant, **changes: Any) -> Tenant:
    with transaction.atomic():
        delta = apply_changes(tenant, changes)
        if delta:
            record_admin_action(
                actor=actor, action="tenant.update", target=tenant, tenant=tenant, changes=delta
            )
    return tenant
