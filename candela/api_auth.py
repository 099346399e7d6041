"""Who is calling the management API, and what they may see.

Authentication: `Authorization: Bearer cm-…` (a management token) or a logged-in
Django session (CSRF-checked for unsafe methods). The authenticated user lands on
`request.auth`. Authorisation: each surface names the roles it admits; tenant
admins are confined to their tenant, and another tenant's objects are answered
404 so their existence never leaks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from audit.constants import Decision, EventKind
from audit.services import record_event
from candela.api_errors import ApiError, forbidden, not_found
from tenants.constants import Role
from tenants.models import ManagementToken, Tenant, User
from tenants.tokens import PREFIX_LENGTH, digest_matches, is_well_formed

STAFF = frozenset({Role.OPERATOR, Role.ADMIN})
EVERYONE = frozenset({Role.OPERATOR, Role.ADMIN, Role.DEVELOPER})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Writing last_used_at on every call would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_ID_DIGITS = 18  # every 18-digit number fits PostgreSQL's bigint

ModelT = TypeVar("ModelT", bound=models.Model)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message)


def _role_of(user: User) -> str:
    return Role.OPERATOR if user.is_operator else user.role


def _admit(user: User, roles: frozenset[str]) -> User:
    if _role_of(user) not in roles:
        raise forbidden("Your role may not use this endpoint; developers use /api/v1/me/.")
    return user


def _token_failed(*, reason: str, token: ManagementToken | None) -> None:
    """Audit a refused token. Never the secret: only a stored token's prefix."""
    user = token.user if token else None
    record_event(
        kind=EventKind.AUTH,
        action="token.failed",
        decision=Decision.DENIED,
        reason=reason,
        actor=user,
        tenant=user.tenant if user else None,
        key_prefix=token.prefix if token else "",
    )


def user_for_token(raw: str) -> User:
    """The active user behind a management token, or ApiError(401) after auditing."""
    if not is_well_formed(raw, "cm"):
        _token_failed(reason="malformed", token=None)
        raise _unauthorized("The management token is malformed.")
    token = (
        ManagementToken.objects.select_related("user", "user__tenant")
        .filter(prefix=raw[:PREFIX_LENGTH])
        .first()
    )
    if token is None or not digest_matches(raw, token.digest):
        _token_failed(reason="unknown", token=token)
        raise _unauthorized("The management token is not valid.")
    if token.revoked_at is not None or not token.user.is_active:
        _token_failed(reason="revoked" if token.revoked_at else "inactive_user", token=token)
        raise _unauthorized("The management token has been revoked.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ManagementToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


class TokenAuth(HttpBearer):
    """`Authorization: Bearer cm-…`; a present but bad token is a 401, never a fallback."""

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> User:
        return _admit(user_for_token(token.strip()), self.roles)


class SessionAuth(APIKeyCookie):
    """A logged-in browser session; unsafe methods must carry the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles
        # CSRF is checked below, once we know there is a session to protect.
        super().__init__(csrf=False)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise forbidden("CSRF check failed: send the X-CSRFToken header.")
        return _admit(user, self.roles)


def auth_for(roles: frozenset[str]) -> list:
    return [TokenAuth(roles), SessionAuth(roles)]


# --- Authorisation inside a view ---------------------------------------------


def actor_of(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def require_operator(request: HttpRequest) -> User:
    actor = actor_of(request)
    if not actor.is_operator:
        raise forbidden("Only operators may do this.")
    return actor


def scope(queryset: models.QuerySet[ModelT], actor: User, tenant_field: str):
    """Everything for operators; only the actor's tenant for everyone else."""
    if actor.is_operator:
        return queryset
    return queryset.filter(**{tenant_field: actor.tenant_id})


def get_visible(
    queryset: models.QuerySet[ModelT], actor: User, tenant_field: str, what: str, **lookup
) -> ModelT:
    """One object the actor may see, or 404 (also for other tenants' objects)."""
    found = scope(queryset, actor, tenant_field).filter(**lookup).first()
    if found is None:
        raise not_found(what)
    return found


def visible_tenant(actor: User, ref: str) -> Tenant:
    """A tenant by id or slug, if the actor may see it."""
    # ASCII digits only ("²".isdigit() is true too), and short enough for a bigint.
    is_id = ref.isascii() and ref.isdigit() and len(ref) <= MAX_ID_DIGITS
    lookup = {"pk": int(ref)} if is_id else {"slug": ref}
    return get_visible(Tenant.objects.all(), actor, "pk", "Tenant", **lookup)


def users_visible_to(actor: User) -> models.QuerySet[User]:
    users = scope(User.objects.select_related("tenant", "budget"), actor, "tenant")
    if not actor.is_operator:
        # An operator attached to a tenant must still be out of its admins' reach.
        users = users.exclude(role=Role.OPERATOR).exclude(is_superuser=True)
    return users.order_by("id")


def visible_user(actor: User, user_id: int) -> User:
    return get_visible(users_visible_to(actor), actor, "tenant", "User", pk=user_id)
