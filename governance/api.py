"""REST surfaces for gateway keys, providers, model routes, prices, usage and `/me`.

Each view: authorise (candela.api_auth), one service call, render a schema.
"""

# No `from __future__ import annotations` here: django-ninja resolves the parameter
# annotations of paginated views in ninja's own module, where string names fail.

from typing import Literal

from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate

from candela.api_auth import (
    actor_of,
    get_visible,
    require_operator,
    scope,
    visible_tenant,
    visible_user,
)
from candela.api_errors import ApiError, not_found
from candela.api_pagination import Pagination
from candela.api_types import Filter, Id, Text, fields_of
from governance.models import ApiKey, ModelRoute, Price, Provider
from governance.schemas import (
    KEY_BLANK_FIELDS,
    KeyCreated,
    KeyIn,
    KeyOut,
    KeyPatch,
    ModelIn,
    ModelOut,
    ModelPatch,
    MyKeyIn,
    PriceOut,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
    UsageOut,
)
from governance.services.keys import mint_key, revoke_key, update_key
from governance.services.providers import (
    create_model_route,
    create_provider,
    update_model_route,
    update_provider,
)
from governance.usage import UsageReport, summarise
from tenants.models import User

keys_router = Router(tags=["keys"])
providers_router = Router(tags=["providers"])
models_router = Router(tags=["models"])
prices_router = Router(tags=["models"])
usage_router = Router(tags=["usage"])
me_router = Router(tags=["me"])

Group = Literal["tenant", "user", "model", "day"]
MyGroup = Literal["model", "day"]
Period = Literal["day", "month"]


# --- Keys ------------------------------------------------------------------------------


def _keys(actor: User):
    return scope(ApiKey.objects.select_related("tenant"), actor, "tenant")


def _visible_key(actor: User, key_id: int) -> ApiKey:
    return get_visible(_keys(actor), actor, "tenant", "Key", pk=key_id)


def _mint(actor: User, owner: User, payload: MyKeyIn) -> ApiKey:
    policy = fields_of(payload, blank=KEY_BLANK_FIELDS)
    policy.pop("user", None)
    key, raw = mint_key(actor=actor, owner=owner, **policy)
    key.key = raw  # rendered this once; only its digest is stored
    return key


@keys_router.post("", response={201: KeyCreated})
def post_key(request: HttpRequest, payload: KeyIn):
    actor = actor_of(request)
    return _mint(actor, visible_user(actor, payload.user), payload)


@keys_router.get("", response=list[KeyOut])
@paginate(Pagination)
def list_keys(
    request: HttpRequest,
    user: Filter[Id] = None,
    tenant: Text | None = None,
    active: Filter[bool] = None,
):
    keys = _keys(actor_of(request))
    if user is not None:
        keys = keys.filter(owner_id=user)
    if tenant:
        keys = keys.filter(tenant__slug=tenant)
    if active is not None:
        usable = ApiKey.objects.usable().values("pk")
        keys = keys.filter(pk__in=usable) if active else keys.exclude(pk__in=usable)
    return keys.order_by("-created_at", "-id")


@keys_router.get("/{key_id}", response=KeyOut)
def get_key(request: HttpRequest, key_id: Id):
    return _visible_key(actor_of(request), key_id)


@keys_router.patch("/{key_id}", response=KeyOut)
def patch_key(request: HttpRequest, key_id: Id, payload: KeyPatch):
    actor = actor_of(request)
    changes = fields_of(payload, partial=True, blank=KEY_BLANK_FIELDS)
    return update_key(actor=actor, key=_visible_key(actor, key_id), **changes)


@keys_router.delete("/{key_id}", response=KeyOut)
def delete_key(request: HttpRequest, key_id: Id):
    actor = actor_of(request)
    return revoke_key(actor=actor, key=_visible_key(actor, key_id))


# --- Providers -------------------------------------------------------------------------


def _provider(provider_id: int) -> Provider:
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None:
        raise not_found("Provider")
    return provider


@providers_router.post("", response={201: ProviderOut})
def post_provider(request: HttpRequest, payload: ProviderIn):
    return create_provider(actor=require_operator(request), **fields_of(payload))


@providers_router.get("", response=list[ProviderOut])
@paginate(Pagination)
def list_providers(request: HttpRequest):
    return Provider.objects.order_by("priority", "name")


@providers_router.get("/{provider_id}", response=ProviderOut)
def get_provider(request: HttpRequest, provider_id: Id):
    return _provider(provider_id)


@providers_router.patch("/{provider_id}", response=ProviderOut)
def patch_provider(request: HttpRequest, provider_id: Id, payload: ProviderPatch):
    actor = require_operator(request)
    changes = fields_of(payload, partial=True)
    return update_provider(actor=actor, provider=_provider(provider_id), **changes)


# --- Model routes and prices ---------------------------------------------------------------


def _route(route_id: int) -> ModelRoute:
    route = ModelRoute.objects.select_related("provider").filter(pk=route_id).first()
    if route is None:
        raise not_found("Model")
    return route


def _require_known_price(payload: ModelIn) -> None:
    if payload.input_usd_per_mtok is not None and payload.output_usd_per_mtok is not None:
        return
    if not Price.objects.filter(model=payload.upstream_model or payload.name).exists():
        message = "Required: this model is not in the price table (GET /api/v1/prices)."
        raise ApiError(
            422,
            "Give the model's prices.",
            fields={"input_usd_per_mtok": message, "output_usd_per_mtok": message},
        )


@models_router.post("", response={201: ModelOut})
def post_model(request: HttpRequest, payload: ModelIn):
    actor = require_operator(request)
    provider = Provider.objects.filter(name=payload.provider).first()
    if provider is None:
        raise ApiError(404, "Provider not found.", fields={"provider": "No such provider."})
    _require_known_price(payload)
    values = fields_of(payload)
    values["provider"] = provider
    return create_model_route(actor=actor, **values)


@models_router.get("", response=list[ModelOut])
@paginate(Pagination)
def list_models(request: HttpRequest, name: Text | None = None, provider: Text | None = None):
    routes = ModelRoute.objects.select_related("provider")
    if name:
        routes = routes.filter(name=name)
    if provider:
        routes = routes.filter(provider__name=provider)
    return routes.order_by("name", "provider__priority", "id")


@models_router.get("/{route_id}", response=ModelOut)
def get_model(request: HttpRequest, route_id: Id):
    return _route(route_id)


@models_router.patch("/{route_id}", response=ModelOut)
def patch_model(request: HttpRequest, route_id: Id, payload: ModelPatch):
    actor = require_operator(request)
    changes = fields_of(payload, partial=True)
    return update_model_route(actor=actor, route=_route(route_id), **changes)


@prices_router.get("", response=list[PriceOut])
@paginate(Pagination)
def list_prices(request: HttpRequest, vendor: Text | None = None):
    prices = Price.objects.order_by("vendor", "model")
    return prices.filter(vendor=vendor) if vendor else prices


# --- Usage --------------------------------------------------------------------------------


@usage_router.get("", response=UsageOut)
def get_usage(
    request: HttpRequest,
    group_by: Group = "tenant",
    period: Period = "day",
    tenant: Text | None = None,
    user: Filter[Id] = None,
) -> UsageReport:
    """Spend, tokens and requests in the current UTC day or month; `tenant` and `user`
    narrow it (another tenant's tenant or user is a 404)."""
    actor = actor_of(request)
    tenant_id = actor.tenant_id if not actor.is_operator else None
    if tenant:
        tenant_id = visible_tenant(actor, tenant).pk
    user_id = visible_user(actor, user).pk if user is not None else None
    return summarise(group_by=group_by, period=period, tenant_id=tenant_id, user_id=user_id)


# --- The caller's own keys and usage --------------------------------------------------------


def _my_keys(actor: User):
    return ApiKey.objects.select_related("tenant").filter(owner=actor)


@me_router.get("/keys", response=list[KeyOut])
@paginate(Pagination)
def list_my_keys(request: HttpRequest):
    return _my_keys(actor_of(request)).order_by("-created_at", "-id")


@me_router.post("/keys", response={201: KeyCreated})
def post_my_key(request: HttpRequest, payload: MyKeyIn):
    actor = actor_of(request)
    return _mint(actor, actor, payload)


@me_router.delete("/keys/{key_id}", response=KeyOut)
def delete_my_key(request: HttpRequest, key_id: Id):
    actor = actor_of(request)
    key = _my_keys(actor).filter(pk=key_id).first()
    if key is None:
        raise not_found("Key")
    return revoke_key(actor=actor, key=key)


@me_router.get("/usage", response=UsageOut)
def get_my_usage(
    request: HttpRequest, group_by: MyGroup = "model", period: Period = "day"
) -> UsageReport:
    actor = actor_of(request)
    return summarise(group_by=group_by, period=period, user_id=actor.pk)
