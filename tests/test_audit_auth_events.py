"""Sign-ins, failed sign-ins and sign-outs land in the audit trail with IP and request id."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from governance.services.users import create_user
from tenants.constants import Role

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(tenant_a, operator):
    return create_user(
        actor=operator,
        email="ada@acme.test",
        tenant=tenant_a,
        role=Role.ADMIN,
        password=PASSWORD,
        username="ada",
    )


def _login(client, username: str, password: str, *, request_id: str, ip: str):
    return client.post(
        "/admin/login/",
        {"username": username, "password": password, "next": "/admin/"},
        headers={"X-Request-Id": request_id, "X-Forwarded-For": f"{ip}, 10.0.0.1"},
    )


def test_login_is_recorded_with_ip_request_id_and_tenant(client, staff, tenant_a):
    response = _login(client, "ada", PASSWORD, request_id="req-login-1", ip="203.0.113.7")
    assert response.status_code == 302

    event = AuditEvent.objects.get(kind="auth", action="login")
    assert event.actor_id == staff.pk
    assert event.actor_name == "ada"
    assert event.tenant_id == tenant_a.pk
    assert event.tenant_slug == "acme"
    assert event.ip == "203.0.113.7"
    assert event.request_id == "req-login-1"
    assert event.decision == "allowed"


def test_failed_login_records_the_username_but_never_the_password(client, staff, tenant_a):
    response = _login(
        client, "ada", "wrong-password-123", request_id="req-bad-1", ip="198.51.100.9"
    )
    assert response.status_code == 200  # the form is shown again

    event = AuditEvent.objects.get(kind="auth", action="login.failed")
    assert event.actor_name == "ada"
    assert event.actor_id is None
    assert event.tenant_id == tenant_a.pk
    assert event.ip == "198.51.100.9"
    assert event.request_id == "req-bad-1"
    assert event.decision == "denied"
    assert event.data == {"username": "ada", "account_exists": True}
    stored = repr(list(AuditEvent.objects.values()))
    assert "wrong-password-123" not in stored
    assert not AuditEvent.objects.filter(action="login").exists()


def test_failed_login_for_an_unknown_account(client, db):
    _login(client, "nobody", "whatever-it-is", request_id="req-bad-2", ip="192.0.2.1")
    event = AuditEvent.objects.get(kind="auth", action="login.failed")
    assert event.actor_name == "nobody"
    assert event.tenant_id is None
    assert event.data["account_exists"] is False
    assert "whatever-it-is" not in repr(event.__dict__)


def test_logout_is_recorded(client, staff):
    _login(client, "ada", PASSWORD, request_id="req-in", ip="203.0.113.7")
    response = client.post(
        "/admin/logout/", headers={"X-Request-Id": "req-out", "X-Forwarded-For": "203.0.113.8"}
    )
    assert response.status_code == 302  # to LOGOUT_REDIRECT_URL

    event = AuditEvent.objects.get(kind="auth", action="logout")
    assert event.actor_id == staff.pk
    assert event.request_id == "req-out"
    assert event.ip == "203.0.113.8"


def test_auth_events_keep_the_chain_valid(client, staff):
    from audit.services import verify_chain

    _login(client, "ada", "nope-nope-nope", request_id="r1", ip="192.0.2.1")
    _login(client, "ada", PASSWORD, request_id="r2", ip="192.0.2.1")
    report = verify_chain()
    assert report.ok, report
    assert AuditEvent.objects.filter(kind="auth").count() == 2
