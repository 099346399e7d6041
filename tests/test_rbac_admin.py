"""The Django admin back office per role: operators see the platform; a tenant admin sees
and changes only their tenant's users, keys and grants, never another tenant's (not even
through history pages), and cannot add providers or promote anyone to operator."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import ApiKey
from governance.services.grants import create_grant
from governance.services.keys import mint_key
from governance.services.users import create_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def world(operator, admin_a, dev_a, admin_b, dev_b):
    soon = timezone.now() + timedelta(days=2)
    return {
        "key_a": mint_key(actor=operator, owner=dev_a, name="key-of-a")[0],
        "key_b": mint_key(actor=operator, owner=dev_b, name="key-of-b")[0],
        "grant_a": create_grant(
            actor=operator, user=dev_a, amount_usd=Decimal("1"), expires_at=soon
        ),
        "grant_b": create_grant(
            actor=operator, user=dev_b, amount_usd=Decimal("2"), expires_at=soon
        ),
    }


@pytest.fixture
def as_admin_a(client, admin_a):
    client.force_login(admin_a)
    return client


@pytest.fixture
def as_operator(client, operator):
    client.force_login(operator)
    return client


CHANGELISTS = {
    "users": "/admin/tenants/user/",
    "keys": "/admin/governance/apikey/",
    "grants": "/admin/governance/grant/",
}


def _listed(response) -> list:
    return list(response.context["cl"].result_list)


def test_tenant_admin_changelists_show_only_their_tenant(as_admin_a, world, dev_a, dev_b):
    users = _listed(as_admin_a.get(CHANGELISTS["users"]))
    assert dev_a in users and dev_b not in users
    assert {user.tenant.slug for user in users} == {"acme"}
    keys = _listed(as_admin_a.get(CHANGELISTS["keys"]))
    assert keys == [world["key_a"]]
    grants = _listed(as_admin_a.get(CHANGELISTS["grants"]))
    assert grants == [world["grant_a"]]


def test_operator_changelists_show_every_tenant(as_operator, world, dev_a, dev_b):
    users = _listed(as_operator.get(CHANGELISTS["users"]))
    assert dev_a in users and dev_b in users
    assert set(_listed(as_operator.get(CHANGELISTS["keys"]))) == {world["key_a"], world["key_b"]}
    assert len(_listed(as_operator.get(CHANGELISTS["grants"]))) == 2


def _pages_of(obj_path: str) -> list[str]:
    return [f"{obj_path}change/", f"{obj_path}history/", f"{obj_path}delete/"]


def test_other_tenants_objects_are_answered_like_missing_ones(as_admin_a, world, dev_b, admin_b):
    missing = as_admin_a.get("/admin/tenants/user/999999/change/")
    assert missing.status_code == 302  # Django's admin: "doesn't exist", back to the index
    for path in [
        f"/admin/tenants/user/{dev_b.pk}/",
        f"/admin/tenants/user/{admin_b.pk}/",
        f"/admin/governance/apikey/{world['key_b'].pk}/",
        f"/admin/governance/grant/{world['grant_b'].pk}/",
        f"/admin/tenants/tenant/{dev_b.tenant_id}/",
    ]:
        for page in _pages_of(path):
            response = as_admin_a.get(page)
            assert response.status_code in (302, 403, 404), page
            assert "globex" not in response.text and "key-of-b" not in response.text, page


def test_history_of_another_tenants_object_and_its_versions_are_refused(as_admin_a, world):
    key_b = world["key_b"]
    version = key_b.history.latest().history_id
    assert as_admin_a.get(f"/admin/governance/apikey/{key_b.pk}/history/").status_code in (403, 404)
    revert = f"/admin/governance/apikey/{key_b.pk}/history/{version}/"
    assert as_admin_a.get(revert).status_code in (403, 404)
    assert as_admin_a.post(revert, {"name": "hijacked"}).status_code in (403, 404)
    key_b.refresh_from_db()
    assert key_b.name == "key-of-b"


def test_own_tenants_history_is_visible(as_admin_a, world):
    response = as_admin_a.get(f"/admin/governance/apikey/{world['key_a'].pk}/history/")
    assert response.status_code == 200 and "key-of-a" in response.text


def test_tenant_admin_cannot_touch_b_by_posting(as_admin_a, world):
    key_b = world["key_b"]
    as_admin_a.post(f"/admin/governance/apikey/{key_b.pk}/change/", {"name": "mine"})
    as_admin_a.post(f"/admin/governance/apikey/{key_b.pk}/delete/", {"post": "yes"})
    key_b.refresh_from_db()
    assert key_b.name == "key-of-b"


def test_tenant_admin_cannot_add_providers_or_routes(as_admin_a):
    assert as_admin_a.get("/admin/governance/provider/add/").status_code == 403
    assert as_admin_a.get("/admin/governance/modelroute/add/").status_code == 403
    assert as_admin_a.get("/admin/tenants/tenant/add/").status_code == 403


def test_operator_can_add_providers(client, operator):
    client.force_login(operator)
    assert client.get("/admin/governance/provider/add/").status_code == 200


def test_tenant_admin_cannot_promote_anyone_to_operator(as_admin_a, dev_a):
    form = as_admin_a.get(f"/admin/tenants/user/{dev_a.pk}/change/").context["adminform"].form
    assert "is_superuser" not in form.fields and "user_permissions" not in form.fields
    assert "operator" not in [value for value, _ in form.fields["role"].choices]
    assert [t.slug for t in form.fields["tenant"].queryset] == ["acme"]
    data = {
        "username": dev_a.username,
        "email": dev_a.email,
        "role": "operator",
        "is_active": "on",
        "is_superuser": "on",
        "tenant": dev_a.tenant_id,
        "date_joined_0": "2025-01-01",
        "date_joined_1": "00:00:00",
        "budget-TOTAL_FORMS": "0",
        "budget-INITIAL_FORMS": "0",
    }
    as_admin_a.post(f"/admin/tenants/user/{dev_a.pk}/change/", data)
    dev_a.refresh_from_db()
    assert not dev_a.is_operator and dev_a.role == "developer"


def test_admins_never_see_an_operator_attached_to_their_tenant(as_admin_a, operator, tenant_a):
    embedded = create_user(actor=operator, email="op@acme.test", tenant=tenant_a, role="operator")
    assert embedded not in _listed(as_admin_a.get(CHANGELISTS["users"]))
    assert as_admin_a.get(f"/admin/tenants/user/{embedded.pk}/change/").status_code == 302
    assert as_admin_a.get(f"/admin/tenants/user/{embedded.pk}/password/").status_code in (
        302,
        403,
        404,
    )


def test_key_and_grant_forms_offer_only_own_tenants_users(as_admin_a, dev_a, dev_b):
    key_form = as_admin_a.get("/admin/governance/apikey/add/").context["adminform"].form
    owners = list(key_form.fields["owner"].queryset)
    assert dev_a in owners and dev_b not in owners
    grant_form = as_admin_a.get("/admin/governance/grant/add/").context["adminform"].form
    assert dev_b not in list(grant_form.fields["user"].queryset)
    as_admin_a.post("/admin/governance/apikey/add/", {"name": "sneaky", "owner": dev_b.pk})
    assert not ApiKey.objects.filter(owner=dev_b, name="sneaky").exists()


def test_developers_are_kept_out_of_the_admin(client, dev_a):
    client.force_login(dev_a)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
