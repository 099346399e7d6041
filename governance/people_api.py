"""REST surfaces for tenants, users, their grants and management tokens, and `/me`.

Each view: authorise (candela.api_auth), one service call, render a schema.
"""

# No `from __future__ import annotations` here: django-ninja resolves the parameter
# annotations of paginated views in ninja's own module, where string names fail.

from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate

from candela.api_auth import (
    actor_of,
    get_visible,
    require_operator,
    scope,
    users_visible_to,
    visible_tenant,
    visible_user,
)
from candela.api_errors import ApiError, forbidden
from candela.api_pagination import Pagination
from governance.models import Grant
from governance.people_schemas import (
    Filter,
    GrantIn,
    GrantOut,
    Id,
    TenantIn,
    TenantOut,
    TenantPatch,
    Text,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
    fields_of,
)
from governance.services.grants import create_grant
from governance.services.tenants import create_tenant, update_tenant
from governance.services.users import (
    create_user,
    delete_user,
    issue_management_token,
    revoke_management_token,
    update_user,
)
from tenants.constants import Role
from tenants.models import ManagementToken, Tenant, User

tenants_router = Router(tags=["tenants"])
users_router = Router(tags=["users"])
me_router = Router(tags=["me"])


# --- Tenants ---------------------------------------------------------------------------


@tenants_router.post("", response={201: TenantOut})
def post_tenant(request: HttpRequest, payload: TenantIn):
    actor = require_operator(request)
    return create_tenant(actor=actor, **fields_of(payload, blank=("data_residency",)))


@tenants_router.get("", response=list[TenantOut])
@paginate(Pagination)
def list_tenants(request: HttpRequest):
    return scope(Tenant.objects.all(), actor_of(request), "pk")


@tenants_router.get("/{ref}", response=TenantOut)
def get_tenant(request: HttpRequest, ref: Text):
    return visible_tenant(actor_of(request), ref)


@tenants_router.patch("/{ref}", response=TenantOut)
def patch_tenant(request: HttpRequest, ref: Text, payload: TenantPatch):
    actor = actor_of(request)
    tenant = visible_tenant(actor, ref)
    changes = fields_of(payload, partial=True, blank=("data_residency",))
    return update_tenant(actor=actor, tenant=tenant, **changes)


# --- Users ------------------------------------------------------------------------------


def _tenant_for_new_user(actor: User, payload: UserIn) -> Tenant | None:
    if payload.role == Role.OPERATOR:
        if not actor.is_operator:
            raise forbidden("Only operators may create operators.")
        if payload.tenant:
            raise ApiError(422, "Operators belong to no tenant.", fields={"tenant": "Omit it."})
        return None
    if payload.tenant is None:
        if actor.is_operator:
            raise ApiError(422, "Name the user's tenant.", fields={"tenant": "Required."})
        return actor.tenant
    return visible_tenant(actor, payload.tenant)


@users_router.post("", response={201: UserOut})
def post_user(request: HttpRequest, payload: UserIn):
    actor = actor_of(request)
    tenant = _tenant_for_new_user(actor, payload)
    user = create_user(
        actor=actor,
        email=payload.email,
        tenant=tenant,
        role=payload.role.value,
        daily_budget_usd=payload.daily_budget_usd,
        rate_limit_rpm=payload.rate_limit_rpm,
        password=payload.password,
    )
    return users_visible_to(actor).get(pk=user.pk)


@users_router.get("", response=list[UserOut])
@paginate(Pagination)
def list_users(request: HttpRequest, tenant: Text | None = None, role: Filter[Role] = None):
    actor = actor_of(request)
    users = users_visible_to(actor)
    if tenant:
        users = users.filter(tenant__slug=tenant)
    if role:
        users = users.filter(role=role.value)
    return users


@users_router.get("/{user_id}", response=UserOut)
def get_user(request: HttpRequest, user_id: Id):
    return visible_user(actor_of(request), user_id)


@users_router.patch("/{user_id}", response=UserOut)
def patch_user(request: HttpRequest, user_id: Id, payload: UserPatch):
    actor = actor_of(request)
    user = visible_user(actor, user_id)
    changes = fields_of(payload, partial=True)
    if changes.get("role") == Role.OPERATOR and not actor.is_operator:
        raise forbidden("Only operators may make someone an operator.")
    update_user(actor=actor, user=user, **changes)
    return users_visible_to(actor).get(pk=user.pk)


@users_router.delete("/{user_id}", response={204: None})
def remove_user(request: HttpRequest, user_id: Id):
    actor = actor_of(request)
    delete_user(actor=actor, user=visible_user(actor, user_id))


@users_router.post("/{user_id}/grants", response={201: GrantOut})
def post_grant(request: HttpRequest, user_id: Id, payload: GrantIn):
    actor = actor_of(request)
    user = visible_user(actor, user_id)
    return create_grant(actor=actor, user=user, **fields_of(payload))


@users_router.get("/{user_id}/grants", response=list[GrantOut])
@paginate(Pagination)
def list_grants(request: HttpRequest, user_id: Id):
    user = visible_user(actor_of(request), user_id)
    return Grant.objects.filter(user=user).order_by("expires_at", "id")


@users_router.post("/{user_id}/tokens", response={201: TokenCreated})
def post_token(request: HttpRequest, user_id: Id, payload: TokenIn):
    actor = actor_of(request)
    user = visible_user(actor, user_id)
    token, raw = issue_management_token(actor=actor, user=user, name=payload.name)
    token.token = raw  # rendered this once; never stored
    return token


@users_router.get("/{user_id}/tokens", response=list[TokenOut])
@paginate(Pagination)
def list_tokens(request: HttpRequest, user_id: Id):
    user = visible_user(actor_of(request), user_id)
    return ManagementToken.objects.filter(user=user).order_by("-created_at", "-id")


@users_router.delete("/{user_id}/tokens/{token_id}", response=TokenOut)
def revoke_token(request: HttpRequest, user_id: Id, token_id: Id):
    actor = actor_of(request)
    user = visible_user(actor, user_id)
    token = get_visible(
        ManagementToken.objects.filter(user=user), actor, "user__tenant", "Token", pk=token_id
    )
    if token.revoked_at is None:
        revoke_management_token(actor=actor, token=token)
    return token


# --- The caller -------------------------------------------------------------------------


@me_router.get("", response=UserOut)
def get_me(request: HttpRequest):
    actor = actor_of(request)
    return User.objects.select_related("tenant", "budget").get(pk=actor.pk)
