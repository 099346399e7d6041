"""Any change to a governed object bumps the policy version after commit."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from governance.models import ApiKey, Budget, Grant, ModelRoute, Provider
from governance.policy_bus import bump_policy_version
from tenants.models import Tenant, User

GOVERNED = (Tenant, User, Budget, Grant, ApiKey, Provider, ModelRoute)


def _policy_changed(sender, **kwargs) -> None:
    transaction.on_commit(bump_policy_version)


for _model in GOVERNED:
    post_save.connect(_policy_changed, sender=_model, dispatch_uid=f"policy-{_model.__name__}")
    post_delete.connect(
        _policy_changed, sender=_model, dispatch_uid=f"policy-del-{_model.__name__}"
    )
