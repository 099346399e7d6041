"""Each role against each page: anonymous visitors go to login, developers get /me/ only,
tenant admins their own tenant (another tenant's objects are 404), operators everything."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import ApiKey, Budget, Grant
from governance.services.keys import mint_key
from governance.services.users import create_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]
HTMX = {"HX-Request": "true"}

DASHBOARD_PAGES = [
    "/dashboard/",
    "/dashboard/feed/",
    "/dashboard/users/",
    "/dashboard/keys/",
    "/dashboard/grants/",
    "/dashboard/settings/",
]
ALL_PAGES = [*DASHBOARD_PAGES, "/me/"]


@pytest.fixture
def keys(operator, dev_a, dev_b):
    return {
        "a": mint_key(actor=operator, owner=dev_a, name="key-of-a")[0],
        "b": mint_key(actor=operator, owner=dev_b, name="key-of-b")[0],
    }


def _statuses(client, paths):
    return {path: client.get(path).status_code for path in paths}


def test_anonymous_visitors_are_sent_to_login_everywhere(client):
    for path in ALL_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/?next="), path


def test_developers_get_403_on_the_dashboard_and_their_own_page(client, dev_a, keys):
    client.force_login(dev_a)
    assert _statuses(client, DASHBOARD_PAGES) == dict.fromkeys(DASHBOARD_PAGES, 403)
    forbidden = client.get("/dashboard/")
    assert "Not allowed" in forbidden.text and 'href="/me/"' in forbidden.text
    assert client.get("/me/").status_code == 200
    # Nor can they use the dashboard's edits on themselves or their own key.
    assert (
        client.post(f"/dashboard/users/{dev_a.pk}/budget/", {"daily_budget_usd": "999"}).status_code
        == 403
    )
    assert (
        client.post(f"/dashboard/keys/{keys['a'].pk}/policy/", {"allowed_models": ""}).status_code
        == 403
    )
    assert Budget.objects.get(user=dev_a).daily_budget_usd == Decimal("10")


def test_tenant_admin_opens_every_page_of_their_tenant(client, admin_a):
    client.force_login(admin_a)
    assert _statuses(client, ALL_PAGES) == dict.fromkeys(ALL_PAGES, 200)
    assert client.get("/dashboard/?tenant=acme").status_code == 200


def test_tenant_admin_gets_404_for_the_other_tenant(client, admin_a, dev_b, admin_b, keys):
    client.force_login(admin_a)
    for path in DASHBOARD_PAGES:
        assert client.get(f"{path}?tenant=globex").status_code == 404, path
    answers = [
        client.post(
            f"/dashboard/users/{dev_b.pk}/budget/", {"daily_budget_usd": "1"}, headers=HTMX
        ),
        client.post(
            f"/dashboard/users/{admin_b.pk}/budget/", {"daily_budget_usd": "1"}, headers=HTMX
        ),
        client.post(
            f"/dashboard/keys/{keys['b'].pk}/policy/", {"allowed_models": "x"}, headers=HTMX
        ),
        client.post(f"/dashboard/keys/{keys['b'].pk}/revoke/", headers=HTMX),
        client.post(f"/me/keys/{keys['b'].pk}/revoke/", headers=HTMX),
    ]
    assert [r.status_code for r in answers] == [404] * len(answers)
    keys["b"].refresh_from_db()
    assert keys["b"].revoked_at is None and keys["b"].allowed_models == []
    assert Budget.objects.get(user=dev_b).daily_budget_usd is None


def test_tenant_admin_lists_show_nothing_of_the_other_tenant(
    client, admin_a, operator, dev_b, keys
):
    soon = timezone.now() + timedelta(days=1)
    Grant.objects.create(
        user=dev_b, amount_usd=1, remaining_usd=1, expires_at=soon, reason="globex-bonus"
    )
    client.force_login(admin_a)
    text = "".join(client.get(path).text for path in DASHBOARD_PAGES)
    assert "globex" not in text and "key-of-b" not in text and "dev@globex.test" not in text
    assert "key-of-a" in text


def test_tenant_admin_never_reaches_an_operator_inside_their_tenant(
    client, operator, admin_a, tenant_a
):
    embedded = create_user(actor=operator, email="op@acme.test", tenant=tenant_a, role="operator")
    client.force_login(admin_a)
    assert "op@acme.test" not in client.get("/dashboard/users/").text
    response = client.post(
        f"/dashboard/users/{embedded.pk}/budget/", {"daily_budget_usd": "1"}, headers=HTMX
    )
    assert response.status_code == 404


def test_operators_open_every_page_for_every_tenant(client, operator, tenant_a, tenant_b):
    client.force_login(operator)
    assert _statuses(client, ALL_PAGES) == dict.fromkeys(ALL_PAGES, 200)
    for slug in ("acme", "globex"):
        paths = [f"{path}?tenant={slug}" for path in DASHBOARD_PAGES]
        assert _statuses(client, paths) == dict.fromkeys(paths, 200)


def test_operators_edit_objects_of_any_tenant(client, operator, dev_b, keys):
    client.force_login(operator)
    budget = client.post(
        f"/dashboard/users/{dev_b.pk}/budget/", {"daily_budget_usd": "4"}, headers=HTMX
    )
    assert budget.status_code == 200
    assert Budget.objects.get(user=dev_b).daily_budget_usd == Decimal("4")
    assert client.post(f"/dashboard/keys/{keys['b'].pk}/revoke/", headers=HTMX).status_code == 200
    assert not ApiKey.objects.usable().filter(pk=keys["b"].pk).exists()


def test_a_deactivated_admin_is_signed_out(client, admin_a):
    client.force_login(admin_a)
    admin_a.is_active = False
    admin_a.save()
    assert client.get("/dashboard/").status_code == 302
