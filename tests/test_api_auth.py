"""Who may call the management API: management tokens, sessions with CSRF, refusals."""

from __future__ import annotations

import secrets

import httpx
import pytest
from django.conf import settings
from django.test import Client

from audit.models import AuditEvent
from governance.services.users import issue_management_token, revoke_management_token
from tenants.tokens import mint_secret

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def _failed_auth_events():
    return AuditEvent.objects.filter(kind="auth", action="token.failed").order_by("id")


def _assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_a_management_token_authenticates_and_is_marked_used(http_as, operator, tenant_a):
    token, raw = issue_management_token(actor=operator, user=operator, name="ci")
    assert token.last_used_at is None
    response = http_as(token=raw).get("/tenants")
    assert response.status_code == 200
    assert [t["slug"] for t in response.json()["items"]] == ["acme"]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_no_credentials_is_401_in_the_shared_shape(live_api, tenant_a):
    response = httpx.get(f"{live_api}/api/v1/tenants")
    _assert_error(response, 401, "unauthorized")


def test_a_malformed_token_is_refused_before_lookup_and_audited(http_as, operator):
    garbage = "cm-" + "x" * 10 + "-not-a-real-token"
    response = http_as(token=garbage).get("/tenants")
    _assert_error(response, 401, "unauthorized")
    event = _failed_auth_events().get()
    assert event.reason == "malformed"
    assert event.decision == "denied"
    assert event.request_id == response.headers["x-candela-request-id"]
    assert garbage not in str(AuditEvent.objects.filter(pk=event.pk).values().get())


def test_an_unknown_well_formed_token_is_401_and_leaks_nothing(http_as, operator):
    raw = mint_secret("cm").raw  # never stored
    response = http_as(token=raw).get("/tenants")
    _assert_error(response, 401, "unauthorized")
    event = _failed_auth_events().get()
    assert event.reason == "unknown"
    assert event.key_prefix == ""
    assert raw not in str(AuditEvent.objects.filter(pk=event.pk).values().get())


def test_a_right_prefix_with_a_wrong_secret_is_refused(http_as, operator):
    token, raw = issue_management_token(actor=operator, user=operator)
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    response = http_as(token=forged).get("/tenants")
    _assert_error(response, 401, "unauthorized")
    event = _failed_auth_events().get()
    assert event.key_prefix == token.prefix
    assert forged not in str(AuditEvent.objects.filter(pk=event.pk).values().get())


def test_a_revoked_token_is_refused_and_audited_with_its_owner(http_as, operator, admin_a):
    token, raw = issue_management_token(actor=operator, user=admin_a)
    assert http_as(token=raw).get("/users").status_code == 200
    revoke_management_token(actor=operator, token=token)
    response = http_as(token=raw).get("/users")
    _assert_error(response, 401, "unauthorized")
    event = _failed_auth_events().get()
    assert (event.reason, event.actor_id, event.tenant_slug) == ("revoked", admin_a.pk, "acme")
    assert event.key_prefix == token.prefix
    assert raw not in str(AuditEvent.objects.filter(pk=event.pk).values().get())


def test_a_deactivated_users_token_stops_working(http_as, operator, admin_a):
    _, raw = issue_management_token(actor=operator, user=admin_a)
    admin_a.is_active = False
    admin_a.save()
    _assert_error(http_as(token=raw).get("/users"), 401, "unauthorized")
    assert _failed_auth_events().get().reason == "inactive_user"


def test_a_bad_bearer_token_never_falls_back_to_the_session(live_api, admin_a):
    cookies = _session_cookies(admin_a)
    response = httpx.get(
        f"{live_api}/api/v1/users",
        cookies=cookies,
        headers={"Authorization": "Bearer cm-wrong"},
    )
    _assert_error(response, 401, "unauthorized")


def _session_cookies(user) -> dict[str, str]:
    browser = Client()
    browser.force_login(user)
    return {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}


def test_a_logged_in_session_can_read(live_api, admin_a, dev_a):
    response = httpx.get(f"{live_api}/api/v1/users", cookies=_session_cookies(admin_a))
    assert response.status_code == 200
    assert {u["email"] for u in response.json()["items"]} == {"admin@acme.test", "dev@acme.test"}


def test_a_session_write_needs_the_csrf_token(live_api, admin_a):
    cookies = _session_cookies(admin_a)
    body = {"email": "new@acme.test", "tenant": "acme"}
    refused = httpx.post(f"{live_api}/api/v1/users", json=body, cookies=cookies)
    _assert_error(refused, 403, "forbidden")
    assert "CSRF" in refused.json()["error"]["message"]

    csrf = secrets.token_hex(16)  # a 32-character secret, as Django's csrftoken cookie holds
    accepted = httpx.post(
        f"{live_api}/api/v1/users",
        json=body,
        cookies={**cookies, settings.CSRF_COOKIE_NAME: csrf},
        headers={"X-CSRFToken": csrf},
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["email"] == "new@acme.test"


def test_developers_are_admitted_to_me_only(http_as, dev_a):
    api = http_as(dev_a)
    _assert_error(api.get("/tenants"), 403, "forbidden")
    me = api.get("/me")
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["role"], me.json()["tenant"]) == (
        "dev@acme.test",
        "developer",
        "acme",
    )
    assert me.json()["daily_budget_usd"] == "10.00"
