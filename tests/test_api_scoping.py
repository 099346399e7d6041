"""Each role against each surface: operators see all, tenant admins their tenant,
developers only /me. Another tenant's objects are 404, never a hint they exist."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import ApiKey, UsageRecord
from governance.services.grants import create_grant
from governance.services.keys import mint_key
from governance.services.providers import create_provider

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def world(operator, admin_a, dev_a, admin_b, dev_b):
    """Keys, grants and usage in both tenants."""
    key_a, _ = mint_key(actor=operator, owner=dev_a, name="a")
    key_b, _ = mint_key(actor=operator, owner=dev_b, name="b")
    soon = timezone.now() + timedelta(days=1)
    grant_b = create_grant(actor=operator, user=dev_b, amount_usd=Decimal("3"), expires_at=soon)
    for n, (user, key) in enumerate([(dev_a, key_a), (dev_b, key_b)]):
        UsageRecord.objects.create(
            request_id=f"req-{n}",
            tenant_id=user.tenant_id,
            user_id=user.pk,
            api_key_id=key.pk,
            model="gpt-4o-mini",
            decision="allow",
            cost_usd=Decimal("1.5"),
        )
    create_provider(
        actor=operator, name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    return {"key_a": key_a, "key_b": key_b, "grant_b": grant_b}


# Every surface outside /me, as (method, path template, body), called in this order.
STAFF_SURFACES = [
    ("get", "/tenants", None),
    ("post", "/tenants", {"name": "N", "slug": "n"}),
    ("get", "/tenants/acme", None),
    ("patch", "/tenants/acme", {"alert_threshold_pct": 70}),
    ("get", "/users", None),
    ("post", "/users", {"email": "n@acme.test", "tenant": "acme"}),
    ("get", "/users/{dev_a}", None),
    ("patch", "/users/{dev_a}", {"rate_limit_rpm": 5}),
    ("get", "/users/{dev_a}/grants", None),
    ("post", "/users/{dev_a}/grants", {"amount_usd": 1, "expires_at": "2099-01-01T00:00:00Z"}),
    ("post", "/users/{dev_a}/tokens", {}),
    ("get", "/keys", None),
    ("post", "/keys", {"name": "x", "user": "{dev_a}"}),
    ("get", "/keys/{key_a}", None),
    ("patch", "/keys/{key_a}", {"name": "y"}),
    ("delete", "/keys/{key_a}", None),
    ("get", "/providers", None),
    ("post", "/providers", {"name": "p", "kind": "openai", "base_url": "https://x.test"}),
    ("get", "/models", None),
    ("post", "/models", {"name": "gpt-4o", "provider": "openai"}),
    ("get", "/prices", None),
    ("get", "/usage", None),
    ("get", "/audit", None),
    ("get", "/audit/export", None),
    ("get", "/audit/verify", None),
    ("delete", "/users/{dev_a}", None),  # last: the operator's pass really deletes
]


def _call(api, method, template, body, ids):
    path = template.format(**ids)
    if body is not None:
        body = {k: (int(v.format(**ids)) if v == "{dev_a}" else v) for k, v in body.items()}
        return getattr(api, method)(path, body)
    return getattr(api, method)(path)


def _answers(api, ids) -> dict[str, int]:
    return {
        f"{method.upper()} {template}": _call(api, method, template, body, ids).status_code
        for method, template, body in STAFF_SURFACES
    }


def test_developers_get_403_everywhere_outside_me(http_as, world, dev_a):
    api = http_as(dev_a)
    answers = _answers(api, {"dev_a": dev_a.pk, "key_a": world["key_a"].pk})
    assert {surface: 403 for surface in answers} == answers
    assert api.get("/tenants").json()["error"]["code"] == "forbidden"


def test_operators_reach_every_surface(http_as, world, operator, dev_a):
    answers = _answers(http_as(operator), {"dev_a": dev_a.pk, "key_a": world["key_a"].pk})
    refused = {surface: status for surface, status in answers.items() if status >= 300}
    assert refused == {}


def test_operators_see_both_tenants(http_as, world, operator):
    api = http_as(operator)
    assert api.get("/tenants").json()["count"] == 2
    assert api.get("/keys").json()["count"] == 2
    assert api.get("/users").json()["count"] == 5
    assert {row["key"] for row in api.get("/usage").json()["items"]} == {"acme", "globex"}


def test_admin_of_a_gets_404_for_everything_of_b(http_as, world, admin_a, dev_b, admin_b):
    api = http_as(admin_a)
    key_b, grant_b = world["key_b"], world["grant_b"]
    not_found = [
        api.get("/tenants/globex"),
        api.patch("/tenants/globex", {"name": "x"}),
        api.get(f"/users/{dev_b.pk}"),
        api.get(f"/users/{admin_b.pk}"),
        api.patch(f"/users/{dev_b.pk}", {"is_active": False}),
        api.delete(f"/users/{dev_b.pk}"),
        api.get(f"/users/{dev_b.pk}/grants"),
        api.post(f"/users/{dev_b.pk}/grants", {"amount_usd": 1, "expires_at": "2099-01-01T00:00Z"}),
        api.post(f"/users/{dev_b.pk}/tokens", {}),
        api.delete(f"/users/{dev_b.pk}/tokens/1"),
        api.get(f"/keys/{key_b.pk}"),
        api.patch(f"/keys/{key_b.pk}", {"name": "mine"}),
        api.delete(f"/keys/{key_b.pk}"),
        api.post("/keys", {"name": "k", "user": dev_b.pk}),
        api.post("/users", {"email": "x@globex.test", "tenant": "globex"}),
        api.get("/usage", tenant="globex"),
        api.get("/audit", tenant="globex"),
    ]
    assert [r.status_code for r in not_found] == [404] * len(not_found)
    assert {r.json()["error"]["code"] for r in not_found} == {"not_found"}
    dev_b.refresh_from_db()
    key_b.refresh_from_db()
    assert dev_b.is_active and key_b.revoked_at is None and key_b.name == "b"
    assert grant_b.user_id == dev_b.pk and dev_b.grants.count() == 1


def test_admin_of_a_lists_only_tenant_a(http_as, world, admin_a):
    api = http_as(admin_a)
    assert [t["slug"] for t in api.get("/tenants").json()["items"]] == ["acme"]
    assert {u["tenant"] for u in api.get("/users").json()["items"]} == {"acme"}
    assert {k["tenant"] for k in api.get("/keys").json()["items"]} == {"acme"}
    assert api.get("/keys", tenant="globex").json()["count"] == 0
    usage = api.get("/usage").json()
    assert [row["key"] for row in usage["items"]] == ["acme"]
    assert usage["total"]["spend_usd"] == "1.50"
    audit = api.get("/audit", limit=1000).json()["items"]
    assert audit and {event["tenant_slug"] for event in audit} == {"acme"}


def test_admins_never_reach_operators_even_inside_their_tenant(
    http_as, operator, admin_a, tenant_a
):
    from governance.services.users import create_user

    embedded = create_user(actor=operator, email="op@acme.test", tenant=tenant_a, role="operator")
    api = http_as(admin_a)
    assert api.get(f"/users/{embedded.pk}").status_code == 404
    assert api.post(f"/users/{embedded.pk}/tokens", {}).status_code == 404
    assert api.patch(f"/users/{embedded.pk}", {"is_active": False}).status_code == 404
    assert "op@acme.test" not in api.get("/users").text


def test_admins_are_refused_operator_only_actions(http_as, world, admin_a):
    api = http_as(admin_a)
    assert api.post("/tenants", {"name": "N", "slug": "n"}).status_code == 403
    assert (
        api.post(
            "/providers", {"name": "p", "kind": "openai", "base_url": "https://x.test"}
        ).status_code
        == 403
    )
    assert api.post("/models", {"name": "gpt-4o", "provider": "openai"}).status_code == 403
    assert api.get("/audit/verify").status_code == 403


def test_developer_me_shows_only_their_own_keys_and_usage(http_as, world, dev_a, operator):
    other_in_same_tenant, _ = mint_key(
        actor=operator, owner=_colleague(operator, dev_a), name="colleague"
    )
    api = http_as(dev_a)
    keys = api.get("/me/keys").json()
    assert [k["id"] for k in keys["items"]] == [world["key_a"].pk]
    usage = api.get("/me/usage").json()
    assert usage["total"]["requests"] == 1 and usage["total"]["spend_usd"] == "1.50"
    assert api.delete(f"/me/keys/{other_in_same_tenant.pk}").status_code == 404
    assert api.delete(f"/me/keys/{world['key_b'].pk}").status_code == 404
    assert ApiKey.objects.usable().filter(pk=other_in_same_tenant.pk).exists()


def _colleague(operator, dev):
    from governance.services.users import create_user

    return create_user(actor=operator, email="colleague@acme.test", tenant=dev.tenant)


def test_developers_mint_and_revoke_their_own_keys(http_as, dev_a):
    api = http_as(dev_a)
    created = api.post("/me/keys", {"name": "laptop", "allowed_models": ["gpt-4o-mini"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith("ck-") and body["user"] == dev_a.pk and body["tenant"] == "acme"
    assert body["key"] not in api.get("/me/keys").text
    assert api.post("/me/keys", {"name": "x", "user": 1}).status_code == 422  # no owner choice
    revoked = api.delete(f"/me/keys/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
