"""Before/after snapshots of governed objects, for admin_action audit events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import models

SECRET_FIELDS = {"digest", "api_key_encrypted", "password"}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Canonical, so "10" from a request and "10.000000" from the database compare equal.
        return f"{value.normalize():f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(obj: models.Model) -> dict[str, Any]:
    return {
        field.attname: _plain(getattr(obj, field.attname))
        for field in obj._meta.concrete_fields
        if field.name not in SECRET_FIELDS
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"before": old, "after": new}} for the fields that changed.

    Fields on one side only count as changed too, so a deletion (`after={}`)
    keeps the deleted object's values in its audit event.
    """
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in {**before, **after}
        if before.get(name) != after.get(name)
    }


def apply_changes(obj: models.Model, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Set attributes, validate, save; return the diff."""
    before = snapshot(obj)
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save()
    return diff(before, snapshot(obj))
