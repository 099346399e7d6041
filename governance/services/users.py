"""Users, their budgets and management tokens."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.constants import EventKind
from audit.services import record_admin_action, record_event
from governance.models import Budget
from governance.services.changes import apply_changes, diff, snapshot
from tenants.constants import Role
from tenants.models import ManagementToken, Tenant, User
from tenants.tokens import mint_secret

BUDGET_FIELDS = {"daily_budget_usd", "rate_limit_rpm"}


def create_user(
    *,
    actor,
    email: str,
    tenant: Tenant | None,
    role: str = Role.DEVELOPER,
    daily_budget_usd: Decimal | None = None,
    rate_limit_rpm: int | None = None,
    password: str | None = None,
    username: str | None = None,
) -> User:
    with transaction.atomic():
        user = User(
            username=username or email,
            email=email,
            tenant=tenant,
            role=role,
            is_staff=role in (Role.OPERATOR, Role.ADMIN),
            is_superuser=role == Role.OPERATOR,
        )
        user.set_password(password or secrets.token_urlsafe(24))
        user.full_clean()
        user.save()
        budget = Budget(user=user, daily_budget_usd=daily_budget_usd, rate_limit_rpm=rate_limit_rpm)
        budget.full_clean()
        budget.save()
        record_admin_action(
            actor=actor,
            action="user.create",
            target=user,
            tenant=tenant,
            changes=diff({}, {**snapshot(user), **_budget_view(budget)}),
        )
    return user


def _budget_view(budget: Budget) -> dict[str, Any]:
    return {name: value for name, value in snapshot(budget).items() if name in BUDGET_FIELDS}


def budget_of(user: User) -> Budget:
    budget, _ = Budget.objects.get_or_create(user=user)
    return budget


def update_user(*, actor, user: User, **changes: Any) -> User:
    budget_changes = {k: changes.pop(k) for k in list(changes) if k in BUDGET_FIELDS}
    with transaction.atomic():
        delta = apply_changes(user, changes) if changes else {}
        if "role" in changes:
            user.is_staff = user.role in (Role.OPERATOR, Role.ADMIN)
            user.is_superuser = user.role == Role.OPERATOR
            user.save(update_fields=["is_staff", "is_superuser"])
        if budget_changes:
            budget = budget_of(user)
            before = _budget_view(budget)
            apply_changes(budget, budget_changes)
            delta.update(diff(before, _budget_view(budget)))
        if delta:
            record_admin_action(
                actor=actor, action="user.update", target=user, tenant=user.tenant, changes=delta
            )
    return user


def delete_user(*, actor, user: User) -> None:
    with transaction.atomic():
        record_admin_action(
            actor=actor,
            action="user.delete",
            target=user,
            tenant=user.tenant,
            changes=diff(snapshot(user), {}),
        )
        user.delete()


def issue_management_token(*, actor, user: User, name: str = "") -> tuple[ManagementToken, str]:
    """Mint a management token for `user`; the raw token is returned this once."""
    minted = mint_secret("cm")
    with transaction.atomic():
        token = ManagementToken.objects.create(
            user=user, name=name, prefix=minted.prefix, digest=minted.digest
        )
        record_event(
            kind=EventKind.AUTH,
            action="token.issued",
            actor=actor,
            tenant=user.tenant,
            target_type="tenants.managementtoken",
            target_id=str(token.pk),
            target_repr=f"{token.prefix}… for {user.get_username()}",
        )
    return token, minted.raw


def revoke_management_token(*, actor, token: ManagementToken) -> None:
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            kind=EventKind.AUTH,
            action="token.revoked",
            actor=actor,
            tenant=token.user.tenant,
            target_type="tenants.managementtoken",
            target_id=str(token.pk),
            target_repr=f"{token.prefix}…",
        )
