"""Users over the API: creation per role, budgets, grants, management tokens, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import verify_chain
from governance.models import Budget, Grant
from tenants.models import ManagementToken, User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def _event(response) -> AuditEvent:
    return AuditEvent.objects.get(request_id=response.headers["x-candela-request-id"])


def test_operator_creates_a_developer_with_a_budget(http_as, operator, tenant_a):
    response = http_as(operator).post(
        "/users",
        {
            "email": "ana@acme.test",
            "tenant": "acme",
            "role": "developer",
            "daily_budget_usd": "2.5",
            "rate_limit_rpm": 30,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "ana@acme.test" and body["tenant"] == "acme"
    assert (body["daily_budget_usd"], body["rate_limit_rpm"]) == ("2.50", 30)
    assert "password" not in body
    budget = Budget.objects.get(user_id=body["id"])
    assert budget.daily_budget_usd == 2.5 and budget.rate_limit_rpm == 30
    event = _event(response)
    assert (event.action, event.actor_id, event.tenant_slug) == ("user.create", operator.pk, "acme")
    assert event.changes["daily_budget_usd"]["after"] == "2.5"


def test_a_user_created_with_a_password_can_log_in(http_as, operator, tenant_a, client):
    http_as(operator).post(
        "/users", {"email": "pw@acme.test", "tenant": "acme", "password": "correct-horse-9"}
    )
    assert client.login(username="pw@acme.test", password="correct-horse-9")


def test_a_duplicate_email_is_a_409(http_as, operator, dev_a):
    response = http_as(operator).post("/users", {"email": "dev@acme.test", "tenant": "acme"})
    assert response.status_code == 409
    assert "email" in response.json()["error"]["fields"]


def test_operators_must_name_a_tenant_for_tenant_users(http_as, operator, tenant_a):
    response = http_as(operator).post("/users", {"email": "x@acme.test"})
    assert response.status_code == 422
    assert "tenant" in response.json()["error"]["fields"]
    unknown = http_as(operator).post("/users", {"email": "x@acme.test", "tenant": "nope"})
    assert unknown.status_code == 404


def test_operators_may_create_operators_without_a_tenant(http_as, operator):
    response = http_as(operator).post("/users", {"email": "op2@platform.test", "role": "operator"})
    assert response.status_code == 201, response.text
    assert (response.json()["role"], response.json()["tenant"]) == ("operator", None)
    assert User.objects.get(email="op2@platform.test").is_operator


def test_a_tenant_admin_creates_users_in_their_own_tenant_only(http_as, admin_a, tenant_b):
    api = http_as(admin_a)
    implicit = api.post("/users", {"email": "implicit@acme.test"})
    assert implicit.status_code == 201 and implicit.json()["tenant"] == "acme"
    explicit = api.post("/users", {"email": "admin2@acme.test", "tenant": "acme", "role": "admin"})
    assert explicit.status_code == 201 and explicit.json()["role"] == "admin"
    elsewhere = api.post("/users", {"email": "spy@globex.test", "tenant": "globex"})
    assert elsewhere.status_code == 404
    operator = api.post("/users", {"email": "boss@acme.test", "role": "operator"})
    assert operator.status_code == 403
    assert not User.objects.filter(email__in=["spy@globex.test", "boss@acme.test"]).exists()


def test_list_filters_and_get(http_as, operator, admin_a, dev_a, dev_b):
    api = http_as(operator)
    everyone = api.get("/users").json()
    assert everyone["count"] == 4
    acme_devs = api.get("/users", tenant="acme", role="developer").json()["items"]
    assert [u["email"] for u in acme_devs] == ["dev@acme.test"]
    assert api.get(f"/users/{dev_b.pk}").json()["tenant"] == "globex"


def test_patch_changes_budget_and_role_with_an_audited_diff(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    response = api.patch(f"/users/{dev_a.pk}", {"daily_budget_usd": "4", "role": "admin"})
    assert response.status_code == 200, response.text
    assert (response.json()["daily_budget_usd"], response.json()["role"]) == ("4.00", "admin")
    dev_a.refresh_from_db()
    assert dev_a.role == "admin" and dev_a.is_staff
    event = _event(response)
    assert event.action == "user.update" and event.actor_id == admin_a.pk
    assert event.changes["daily_budget_usd"] == {"before": "10", "after": "4"}
    assert event.changes["role"] == {"before": "developer", "after": "admin"}


def test_admins_cannot_promote_to_operator_or_set_negative_budgets(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    assert api.patch(f"/users/{dev_a.pk}", {"role": "operator"}).status_code == 403
    negative = api.patch(f"/users/{dev_a.pk}", {"daily_budget_usd": "-5"})
    assert negative.status_code == 422
    assert "daily_budget_usd" in negative.json()["error"]["fields"]
    dev_a.refresh_from_db()
    assert dev_a.role == "developer" and dev_a.budget.daily_budget_usd == 10


def test_delete_removes_the_user_but_keeps_their_audit_trail(http_as, operator, dev_a):
    api = http_as(operator)
    key = api.post("/keys", {"name": "k", "user": dev_a.pk}).json()
    events_before = AuditEvent.objects.filter(target_id=str(dev_a.pk), target_type="tenants.user")
    assert events_before.count() == 1
    response = api.delete(f"/users/{dev_a.pk}")
    assert response.status_code == 204
    assert not User.objects.filter(pk=dev_a.pk).exists()
    assert api.get(f"/users/{dev_a.pk}").status_code == 404
    assert api.get(f"/keys/{key['id']}").status_code == 404
    trail = AuditEvent.objects.filter(target_id=str(dev_a.pk), target_type="tenants.user")
    assert list(trail.values_list("action", flat=True)) == ["user.create", "user.delete"]
    deletion = _event(response)
    assert deletion.changes["email"] == {"before": "dev@acme.test", "after": None}
    assert AuditEvent.objects.filter(action="key.mint", tenant_slug="acme").exists()
    assert verify_chain().ok


def test_grants_are_created_and_listed(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    expires = (timezone.now() + timedelta(days=7)).isoformat()
    response = api.post(
        f"/users/{dev_a.pk}/grants", {"amount_usd": "5", "expires_at": expires, "reason": "demo"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["amount_usd"], body["remaining_usd"], body["user"]) == ("5.00", "5.00", dev_a.pk)
    assert body["expires_at"].endswith("Z")
    assert _event(response).action == "grant.create"
    listed = api.get(f"/users/{dev_a.pk}/grants").json()
    assert [g["id"] for g in listed["items"]] == [body["id"]]


def test_an_already_expired_grant_is_a_422(http_as, admin_a, dev_a):
    expired = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = http_as(admin_a).post(
        f"/users/{dev_a.pk}/grants", {"amount_usd": "5", "expires_at": expired}
    )
    assert response.status_code == 422
    assert "expires_at" in response.json()["error"]["fields"]
    assert not Grant.objects.exists()


def test_a_naive_grant_expiry_is_read_as_utc(http_as, admin_a, dev_a):
    response = http_as(admin_a).post(
        f"/users/{dev_a.pk}/grants", {"amount_usd": 1, "expires_at": "2099-01-02T03:04:05"}
    )
    assert response.json()["expires_at"] == "2099-01-02T03:04:05Z"


def test_a_management_token_is_shown_once_and_then_works(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    response = api.post(f"/users/{dev_a.pk}/tokens", {"name": "laptop"})
    assert response.status_code == 201, response.text
    raw = response.json()["token"]
    assert raw.startswith("cm-") and response.json()["prefix"] == raw[:12]
    listed = api.get(f"/users/{dev_a.pk}/tokens")
    assert raw not in listed.text
    assert [t["name"] for t in listed.json()["items"]] == ["laptop"]
    assert raw not in str(list(ManagementToken.objects.values()))

    as_dev = http_as(token=raw)
    assert as_dev.get("/me").json()["email"] == "dev@acme.test"
    revoked = api.delete(f"/users/{dev_a.pk}/tokens/{response.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert as_dev.get("/me").status_code == 401


def test_a_patch_that_changes_nothing_writes_no_event(http_as, admin_a, dev_a):
    response = http_as(admin_a).patch(f"/users/{dev_a.pk}", {"daily_budget_usd": 10})
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="user.update").exists()
