"""Candidate routes for a request: priority, fallbacks, region pin, PHI/BAA.

The candidates, in the order they will be tried:

1. the requested model's routes, lowest provider priority first;
2. then its `fallbacks` (the union of every route's list, in order), each with its
   routes by priority. A fallback the key's allowlist does not allow is left out:
   a routing choice never widens what a key may use. Fallbacks do not chain.

Routes that are disabled, or whose provider kind cannot serve the endpoint (no
adapter, or e.g. embeddings on Anthropic), are dropped. Then governance filters,
which apply to fallbacks too and never fall over to a forbidden provider:

- region pinning: the key's and the tenant's `data_residency` (each that is set)
  must equal the provider's region;
- PHI tenants: only providers on the tenant's BAA list that also have a BAA
  signed (`Provider.baa`); fail-closed when none.

When governance leaves nothing, 403 `provider_not_permitted`. Circuit breakers
and provider hard caps are per-attempt state, applied later (gateway.fallback,
gateway.provider_budget).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.errors import Denial, invalid_request
from gateway.providers.base import ProviderAdapter
from gateway.specs import EndpointSpec
from governance.snapshot import KeyPolicy, PolicySnapshot, RouteTarget, TenantPolicy


def region_pins(key: KeyPolicy, tenant: TenantPolicy) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for r in (key.data_residency, tenant.data_residency) if r))


def permitted(target: RouteTarget, pins: tuple[str, ...], tenant: TenantPolicy) -> bool:
    if any(target.region != pin for pin in pins):
        return False
    return not tenant.is_phi or (target.baa and target.provider_name in tenant.baa_providers)


def _why_not(model: str, pins: tuple[str, ...], tenant: TenantPolicy) -> str:
    rules = []
    if pins:
        rules.append(f"data residency {'/'.join(pins)}")
    if tenant.is_phi:
        rules.append("the PHI tenant's BAA provider list")
    return f"No provider permitted by {' and '.join(rules)} can serve the model {model!r}."


class Router:
    def __init__(self, adapters: Mapping[str, ProviderAdapter]) -> None:
        self._adapters = adapters

    def servable(self, targets: tuple[RouteTarget, ...]) -> RouteTarget | None:
        """The first enabled route with an adapter (for listing models)."""
        for target in targets:
            if target.enabled and target.kind in self._adapters:
                return target
        return None

    def _serves(self, target: RouteTarget, spec: EndpointSpec) -> bool:
        adapter = self._adapters.get(target.kind)
        return target.enabled and adapter is not None and adapter.supports(spec)

    def _chain(self, snapshot: PolicySnapshot, model: str, key: KeyPolicy) -> list[RouteTarget]:
        primary = snapshot.routes_for(model)
        names = [model]
        for target in primary:
            names += [n for n in target.fallbacks if n not in names and key.allows(n)]
        seen: set[int] = set()
        chain = []
        for name in names:
            for target in snapshot.routes_for(name):
                if target.route_id not in seen:
                    seen.add(target.route_id)
                    chain.append(target)
        return chain

    def plan(
        self,
        snapshot: PolicySnapshot,
        spec: EndpointSpec,
        model: str,
        *,
        key: KeyPolicy,
        tenant: TenantPolicy,
    ) -> tuple[RouteTarget, ...]:
        chain = self._chain(snapshot, model, key)
        if not any(t.enabled and t.kind in self._adapters for t in chain):
            raise Denial("model_not_found", f"The model {model!r} does not exist.")
        usable = [t for t in chain if self._serves(t, spec)]
        if not usable:
            raise invalid_request(f"The model {model!r} cannot serve {spec.path}.")
        pins = region_pins(key, tenant)
        allowed = tuple(t for t in usable if permitted(t, pins, tenant))
        if not allowed:
            raise Denial("provider_not_permitted", _why_not(model, pins, tenant))
        return allowed
