"""The compiled policy snapshot: what a gateway process knows without the database."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.counters.base import cost_nano, usd_to_nano
from governance.services.grants import create_grant
from governance.services.keys import mint_key, revoke_key
from governance.services.providers import create_model_route, create_provider
from governance.services.tenants import update_tenant
from governance.snapshot import compile_snapshot
from tenants.tokens import digest_secret

pytestmark = pytest.mark.django_db


def test_keys_carry_their_owner_budget_grants_and_tenant_caps(operator, tenant_a, dev_a):
    update_tenant(actor=operator, tenant=tenant_a, daily_cap_usd=Decimal("50"))
    now = timezone.now()
    late = create_grant(
        actor=operator, user=dev_a, amount_usd=Decimal("3"), expires_at=now + timedelta(days=5)
    )
    soon = create_grant(
        actor=operator, user=dev_a, amount_usd=Decimal("2"), expires_at=now + timedelta(days=1)
    )
    key, raw = mint_key(actor=operator, owner=dev_a, name="k", allowed_models=["gpt-4o*", "byo:*"])
    revoked, revoked_raw = mint_key(actor=operator, owner=dev_a, name="old")
    revoke_key(actor=operator, key=revoked)
    _, platform_raw = mint_key(actor=operator, owner=operator, name="platform")

    snapshot = compile_snapshot(version=7)

    assert snapshot.version == 7
    policy = snapshot.key(digest_secret(raw))
    assert (policy.id, policy.prefix, policy.tenant_id) == (key.id, key.prefix, tenant_a.id)
    assert policy.owner.daily_budget_nano == usd_to_nano(Decimal("10"))
    assert [g.grant_id for g in policy.owner.grants] == [soon.id, late.id]
    assert policy.owner.grants[0].amount_nano == usd_to_nano(Decimal("2"))
    assert policy.allows("gpt-4o-mini") and policy.allows("byo:llama")
    assert not policy.allows("claude-sonnet-4-5") and not policy.allows("my-gpt-4o")
    assert snapshot.key(digest_secret(revoked_raw)).revoked
    assert snapshot.key(digest_secret(platform_raw)).tenant_id is None
    assert snapshot.key(digest_secret("ck-" + "q" * 43)) is None
    assert snapshot.tenant_named("acme") is snapshot.tenant_named(str(tenant_a.id))
    assert snapshot.tenants_by_id[tenant_a.id].daily_cap_nano == usd_to_nano(Decimal("50"))
    assert raw not in repr(snapshot)


def test_routes_are_ordered_by_provider_priority_with_credentials(operator):
    backup = create_provider(
        actor=operator,
        name="backup",
        kind="openai_compatible",
        base_url="https://b.example/v1/",
        api_key="sk-b",
        priority=50,
    )
    primary = create_provider(
        actor=operator,
        name="primary",
        kind="openai",
        base_url="https://a.example/v1",
        api_key="sk-a",
        priority=10,
    )
    for provider in (backup, primary):
        create_model_route(
            actor=operator,
            name="gpt-4o-mini",
            provider=provider,
            input_usd_per_mtok=Decimal("0.15"),
            output_usd_per_mtok=Decimal("0.6"),
        )
    create_model_route(
        actor=operator,
        name="house",
        provider=backup,
        upstream_model="llama-3",
        input_usd_per_mtok=Decimal("0"),
        output_usd_per_mtok=Decimal("0"),
    )

    routes = compile_snapshot().routes_for("gpt-4o-mini")

    assert [r.provider_name for r in routes] == ["primary", "backup"]
    assert [r.credential for r in routes] == ["sk-a", "sk-b"]
    assert routes[1].base_url == "https://b.example/v1"
    assert compile_snapshot().routes_for("house")[0].upstream_model == "llama-3"
    assert "sk-a" not in repr(routes[0])


def test_route_cost_is_exactly_the_counter_store_cost(operator):
    provider = create_provider(
        actor=operator, name="p", kind="openai", base_url="https://p.example/v1"
    )
    rng = random.Random(7)
    for index in range(20):
        price_in = Decimal(rng.randrange(0, 100_000_000)).scaleb(-6)
        price_out = Decimal(rng.randrange(0, 100_000_000)).scaleb(-6)
        create_model_route(
            actor=operator,
            name=f"m{index}",
            provider=provider,
            input_usd_per_mtok=price_in,
            output_usd_per_mtok=price_out,
        )
    for name, (route,) in compile_snapshot().routes.items():
        for _ in range(50):
            prompt, completion = rng.randrange(0, 10**6), rng.randrange(0, 10**5)
            expected = cost_nano(
                prompt, completion, route.input_usd_per_mtok, route.output_usd_per_mtok
            )
            assert route.cost_nano(prompt, completion) == expected, name
