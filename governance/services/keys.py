"""Gateway API keys: minted with the raw key shown once, revoked, never stored raw."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record_admin_action
from governance.models import ApiKey
from governance.services.changes import apply_changes, diff, snapshot
from tenants.models import User
from tenants.tokens import mint_secret


def mint_key(*, actor, owner: User, name: str, **policy: Any) -> tuple[ApiKey, str]:
    """Create a key for `owner` in the owner's tenant; returns (key, raw secret).

    An operator's key belongs to no tenant: each request names the tenant it bills
    (`X-Candela-Tenant-Id` or baggage `candela.tenant_id`).
    """
    if owner.tenant_id is None and not owner.is_operator:
        raise ValueError("only operators may own a key without a tenant")
    minted = mint_secret("ck")
    with transaction.atomic():
        key = ApiKey(
            tenant_id=owner.tenant_id,
            owner=owner,
            name=name,
            prefix=minted.prefix,
            digest=minted.digest,
            **policy,
        )
        key.full_clean()
        key.save()
        record_admin_action(
            actor=actor,
            action="key.mint",
            target=key,
            tenant=owner.tenant,
            changes=diff({}, snapshot(key)),
        )
    return key, minted.raw


def update_key(*, actor, key: ApiKey, **changes: Any) -> ApiKey:
    with transaction.atomic():
        delta = apply_changes(key, changes)
        if delta:
            record_admin_action(
                actor=actor, action="key.update", target=key, tenant=key.tenant, changes=delta
            )
    return key


def revoke_key(*, actor, key: ApiKey) -> ApiKey:
    with transaction.atomic():
        if key.revoked_at is None:
            before = snapshot(key)
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            record_admin_action(
                actor=actor,
                action="key.revoke",
                target=key,
                tenant=key.tenant,
                changes=diff(before, snapshot(key)),
            )
    return key
