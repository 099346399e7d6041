"""The compiled policy snapshot: every governed object a gateway request needs.

`compile_snapshot()` reads the database once (a handful of queries, no per-row
queries) and returns immutable values, so a gateway process can answer every
request from memory and swap in a new snapshot atomically when policy changes.
It is sync ORM code; the gateway calls it through `asyncio.to_thread`.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from django.conf import settings
from django.utils import timezone

from governance.counters.base import GrantSlot, usd_to_nano
from governance.crypto import decrypt
from governance.models import ApiKey, Budget, Grant, ModelRoute, Provider
from tenants.models import Tenant, User

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    id: int
    slug: str
    name: str
    daily_cap_nano: int | None
    monthly_cap_nano: int | None
    alert_threshold_pct: int
    pii_mode: str
    pii_on_detect: str
    data_residency: str
    is_phi: bool
    baa_providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OwnerPolicy:
    """The user a key acts for: identity, daily budget, rate limit and grants."""

    id: int
    username: str
    tenant_id: int | None
    role: str
    active: bool
    daily_budget_nano: int | None  # None: no per-user daily limit
    rate_limit_rpm: int | None
    grants: tuple[GrantSlot, ...]  # unexpired, soonest expiry first


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    id: int
    prefix: str
    name: str
    tenant_id: int | None  # None: an operator key, which names its tenant per request
    owner: OwnerPolicy
    allowed_models: tuple[str, ...]
    rate_limit_rpm: int | None
    data_residency: str
    pii_mode: str
    pii_on_detect: str
    expires_at: float | None  # epoch seconds
    revoked: bool
    # One compiled regex for all allowlist patterns; None allows every model.
    _allow: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def allows(self, model: str) -> bool:
        return self._allow is None or self._allow.match(model) is not None

    def usable_at(self, now: float) -> bool:
        return (
            not self.revoked
            and self.owner.active
            and (self.expires_at is None or now < self.expires_at)
        )


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """One provider serving a public model name, with what it takes to call it."""

    route_id: int
    model: str
    upstream_model: str
    provider_id: int
    provider_name: str
    kind: str
    base_url: str
    credential: str = field(repr=False)
    region: str
    baa: bool
    enabled: bool
    priority: int
    hard_cap: bool
    monthly_budget_usd: Decimal | None
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    fallbacks: tuple[str, ...]
    input_micro_per_mtok: int  # the prices in micro-dollars, for integer cost arithmetic
    output_micro_per_mtok: int
    # The provider's monthly budget, for hard caps and alerts (gateway.provider_budget).
    monthly_budget_nano: int | None = None

    def cost_nano(self, prompt_tokens: int, completion_tokens: int) -> int:
        """`governance.counters.base.cost_nano` for this route, in integers: prices have at
        most six decimals, so (tokens x micro-USD) / 1000 rounded up is the identical result."""
        micro = prompt_tokens * self.input_micro_per_mtok
        micro += completion_tokens * self.output_micro_per_mtok
        return -(-micro // 1000)


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    version: int
    compiled_at: float
    keys_by_digest: Mapping[str, KeyPolicy]
    tenants_by_id: Mapping[int, TenantPolicy]
    tenants_by_slug: Mapping[str, TenantPolicy]
    routes: Mapping[str, tuple[RouteTarget, ...]]  # by public name, lowest priority first

    def key(self, digest: str) -> KeyPolicy | None:
        return self.keys_by_digest.get(digest)

    def tenant_named(self, ref: str) -> TenantPolicy | None:
        """A tenant by id (digits) or slug, as `X-Candela-Tenant-Id` names it."""
        if ref.isdigit():
            found = self.tenants_by_id.get(int(ref))
            if found is not None:
                return found
        return self.tenants_by_slug.get(ref)

    def routes_for(self, model: str) -> tuple[RouteTarget, ...]:
        return self.routes.get(model, ())


def _micro(price: Decimal) -> int:
    micro = price.scaleb(6)
    if micro != micro.to_integral_value():
        raise ValueError(f"price {price} has more than six decimals")
    return int(micro)


def _nano(amount: Decimal | None) -> int | None:
    return None if amount is None else usd_to_nano(amount)


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def compile_allowlist(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """Shell-style patterns (`gpt-4o*`, `byo:*`), case-sensitive; empty allows all."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def _tenants() -> dict[int, TenantPolicy]:
    return {
        t.id: TenantPolicy(
            id=t.id,
            slug=t.slug,
            name=t.name,
            daily_cap_nano=_nano(t.daily_cap_usd),
            monthly_cap_nano=_nano(t.monthly_cap_usd),
            alert_threshold_pct=t.alert_threshold_pct,
            pii_mode=t.pii_mode,
            pii_on_detect=t.pii_on_detect,
            data_residency=t.data_residency,
            is_phi=t.is_phi,
            baa_providers=tuple(t.baa_providers or ()),
        )
        for t in Tenant.objects.all()
    }


def _owners(user_ids: set[int]) -> dict[int, OwnerPolicy]:
    now = timezone.now()
    budgets = {b.user_id: b for b in Budget.objects.filter(user_id__in=user_ids)}
    grants: dict[int, list[GrantSlot]] = {}
    # Grant.remaining_usd is not consulted: the counter store tracks what was spent.
    for g in Grant.objects.filter(user_id__in=user_ids, expires_at__gt=now).order_by(
        "expires_at", "id"
    ):
        slot = GrantSlot(
            grant_id=g.id,
            amount_nano=usd_to_nano(g.amount_usd),
            expires_at=g.expires_at.timestamp(),
        )
        grants.setdefault(g.user_id, []).append(slot)
    default_budget = settings.CANDELA_DEFAULT_DAILY_BUDGET_USD
    owners = {}
    for user in User.objects.filter(id__in=user_ids):
        budget = budgets.get(user.id)
        daily = budget.daily_budget_usd if budget is not None else None
        owners[user.id] = OwnerPolicy(
            id=user.id,
            username=user.get_username(),
            tenant_id=user.tenant_id,
            role=user.role,
            active=user.is_active,
            daily_budget_nano=_nano(daily if daily is not None else default_budget),
            rate_limit_rpm=budget.rate_limit_rpm if budget is not None else None,
            grants=tuple(grants.get(user.id, ())),
        )
    return owners


def _keys() -> dict[str, KeyPolicy]:
    rows = list(ApiKey.objects.all())
    owners = _owners({k.owner_id for k in rows})
    keys = {}
    for k in rows:
        if k.owner_id not in owners:
            continue  # the owner was deleted since the keys were read
        patterns = tuple(k.allowed_models or ())
        keys[k.digest] = KeyPolicy(
            id=k.id,
            prefix=k.prefix,
            name=k.name,
            tenant_id=k.tenant_id,
            owner=owners[k.owner_id],
            allowed_models=patterns,
            rate_limit_rpm=k.rate_limit_rpm,
            data_residency=k.data_residency,
            pii_mode=k.pii_mode,
            pii_on_detect=k.pii_on_detect,
            expires_at=_epoch(k.expires_at),
            revoked=k.revoked_at is not None,
            _allow=compile_allowlist(patterns),
        )
    return keys


def _credential(provider: Provider) -> str | None:
    """The decrypted credential; None when it cannot be decrypted (a changed secret key)."""
    try:
        return decrypt(provider.api_key_encrypted)
    except ValueError:
        log.error("credential of provider %s cannot be decrypted; provider disabled", provider)
        return None


def _routes() -> dict[str, tuple[RouteTarget, ...]]:
    routes: dict[str, list[RouteTarget]] = {}
    credentials: dict[int, str | None] = {}
    for r in ModelRoute.objects.select_related("provider").order_by(
        "name", "provider__priority", "provider__name"
    ):
        p = r.provider
        if p.id not in credentials:
            credentials[p.id] = _credential(p)
        routes.setdefault(r.name, []).append(
            RouteTarget(
                route_id=r.id,
                model=r.name,
                upstream_model=r.effective_upstream_model,
                provider_id=p.id,
                provider_name=p.name,
                kind=p.kind,
                base_url=p.base_url.rstrip("/"),
                credential=credentials[p.id] or "",
                region=p.region,
                baa=p.baa,
                enabled=p.enabled and credentials[p.id] is not None,
                priority=p.priority,
                hard_cap=p.hard_cap,
                monthly_budget_usd=p.monthly_budget_usd,
                input_usd_per_mtok=r.input_usd_per_mtok,
                output_usd_per_mtok=r.output_usd_per_mtok,
                fallbacks=tuple(r.fallbacks or ()),
                input_micro_per_mtok=_micro(r.input_usd_per_mtok),
                output_micro_per_mtok=_micro(r.output_usd_per_mtok),
                monthly_budget_nano=_nano(p.monthly_budget_usd),
            )
        )
    return {name: tuple(targets) for name, targets in routes.items()}


def compile_snapshot(*, version: int = 0) -> PolicySnapshot:
    """Read every governed object once; `version` is the policy version it reflects.

    The queries run one by one, not in one long transaction (which would hold
    read locks on every governed table and deadlock against DDL). A change that
    lands between two queries bumps the version after its commit, so the next
    refresh compiles it; meanwhile rows that lost their parent are left out.
    """
    tenants = _tenants()
    keys = _keys()
    routes = _routes()
    return PolicySnapshot(
        version=version,
        compiled_at=time.time(),
        keys_by_digest=MappingProxyType(keys),
        tenants_by_id=MappingProxyType(tenants),
        tenants_by_slug=MappingProxyType({t.slug: t for t in tenants.values()}),
        routes=MappingProxyType(routes),
    )
