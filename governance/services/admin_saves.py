"""Saves and deletes coming from the Django admin, audited like every other change."""

from __future__ import annotations

from django.db import models, transaction

from audit.services import record_admin_action
from governance.services.changes import diff, snapshot


def _tenant_of(obj: models.Model):
    if obj._meta.label_lower == "tenants.tenant":
        return obj
    if getattr(obj, "tenant_id", None):
        return obj.tenant
    user = getattr(obj, "user", None) or getattr(obj, "owner", None)
    return getattr(user, "tenant", None)


def save_from_admin(*, actor, obj: models.Model, creating: bool) -> None:
    with transaction.atomic():
        before = {} if creating else snapshot(type(obj)._default_manager.get(pk=obj.pk))
        obj.save()
        delta = diff(before, snapshot(obj))
        if delta:
            verb = "create" if creating else "update"
            record_admin_action(
                actor=actor,
                action=f"{obj._meta.model_name}.{verb}",
                target=obj,
                tenant=_tenant_of(obj),
                changes=delta,
            )


def delete_from_admin(*, actor, obj: models.Model) -> None:
    with transaction.atomic():
        record_admin_action(
            actor=actor,
            action=f"{obj._meta.model_name}.delete",
            target=obj,
            tenant=_tenant_of(obj),
            changes=diff(snapshot(obj), {}),
        )
        obj.delete()
