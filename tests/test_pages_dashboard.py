"""Dashboard pages: the overview's figures, and inline edits that go through the services
(and so land in the audit trail exactly as API changes do)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import append_events
from governance.models import ApiKey, Grant, UsageRecord
from governance.services.keys import mint_key
from governance.services.tenants import update_tenant
from tenants.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]
HTMX = {"HX-Request": "true"}


def _usage(user, cost, *, n, model="gpt-4o-mini", decision="allowed", reason="", days_ago=0):
    return UsageRecord.objects.create(
        request_id=f"dash-{n}",
        created_at=timezone.now() - timedelta(days=days_ago),
        tenant_id=user.tenant_id,
        user_id=user.pk,
        model=model,
        decision=decision,
        reason=reason,
        cost_usd=Decimal(cost),
    )


@pytest.fixture
def admin_client(client, admin_a):
    client.force_login(admin_a)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def _last_admin_action(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(kind="admin_action", action=action).latest("id")


# --- Overview ---------------------------------------------------------------------------------


def test_overview_shows_spend_against_caps_leaderboards_and_refusals(
    admin_client, operator, tenant_a, dev_a, admin_a, dev_b
):
    update_tenant(
        actor=operator, tenant=tenant_a, daily_cap_usd=Decimal("20"), monthly_cap_usd=Decimal("100")
    )
    _usage(dev_a, "4", n=1)
    _usage(dev_a, "1", n=2, model="claude-haiku-4-5")
    _usage(admin_a, "0", n=3, decision="denied", reason="budget_exceeded")
    _usage(dev_a, "0", n=4, decision="denied", reason="budget_exceeded")
    _usage(dev_a, "0", n=5, decision="error", reason="upstream_timeout")
    _usage(dev_b, "50", n=6)  # another tenant: never in acme's figures
    page = admin_client.get("/dashboard/")
    assert page.status_code == 200
    view = page.context["overview"]
    assert view.today.spent == Decimal("5") and view.today.cap == Decimal("20")
    assert view.today.percent == 25 and view.month.cap == Decimal("100")
    assert view.today.requests == 5 and view.today.refused == 2
    assert [line.key for line in view.by_user] == ["dev@acme.test", "admin@acme.test"]
    assert [line.key for line in view.by_model] == ["gpt-4o-mini", "claude-haiku-4-5"]
    assert view.by_tenant == []  # tenant admins see no platform leaderboard
    outcomes = {(o.decision, o.reason): o.count for o in view.outcomes}
    assert outcomes == {
        ("allowed", "served"): 2,
        ("denied", "budget_exceeded"): 2,
        ("error", "upstream_timeout"): 1,
    }
    assert "$5.00" in page.text and "$20.00" in page.text and "globex" not in page.text


def test_operator_overview_has_tenant_leaderboard_and_can_pick_a_tenant(
    operator_client, dev_a, dev_b
):
    _usage(dev_a, "2", n=1)
    _usage(dev_b, "3", n=2)
    everyone = operator_client.get("/dashboard/").context["overview"]
    assert [line.key for line in everyone.by_tenant] == ["globex", "acme"]
    assert everyone.today.spent == Decimal("5")
    picked = operator_client.get("/dashboard/?tenant=globex")
    assert picked.context["overview"].today.spent == Decimal("3")
    assert operator_client.get("/dashboard/?tenant=nope").status_code == 404


def test_spend_chart_has_a_bar_per_day_scaled_to_the_peak(admin_client, dev_a):
    _usage(dev_a, "6", n=1, days_ago=2)
    _usage(dev_a, "3", n=2)
    chart = admin_client.get("/dashboard/").context["overview"].chart
    assert len(chart.bars) == 30 and chart.peak == Decimal("6")
    assert chart.bars[-1].day == timezone.now().date()
    assert chart.bars[-3].height == 150 and chart.bars[-1].height == 75
    assert chart.bars[-2].height == 0


def test_summary_fragment_and_feed_rows_render_alone(admin_client, dev_a, tenant_a, tenant_b):
    append_events(
        [
            {"kind": "llm_request", "action": "chat", "tenant_id": tenant_a.pk, "tenant_slug": "acme",
             "model": "gpt-4o-mini", "decision": "allowed", "cost_usd": "0.5", "request_id": "r-a"},
            {"kind": "llm_request", "action": "chat", "tenant_id": tenant_b.pk, "tenant_slug": "globex",
             "model": "gpt-4o", "decision": "allowed", "cost_usd": "9", "request_id": "r-b"},
        ]
    )  # fmt: skip
    summary = admin_client.get("/dashboard/", headers={**HTMX, "HX-Target": "summary"})
    assert summary.status_code == 200 and "<html" not in summary.text
    assert 'id="summary"' in summary.text
    rows = admin_client.get("/dashboard/feed/")
    assert 'data-request-id="r-a"' in rows.text and "r-b" not in rows.text
    page = admin_client.get("/dashboard/")
    assert 'data-request-id="r-a"' in page.text and "r-b" not in page.text


# --- Users and budgets ----------------------------------------------------------------------


def test_inline_budget_edit_goes_through_the_service_and_is_audited(admin_client, admin_a, dev_a):
    response = admin_client.post(
        f"/dashboard/users/{dev_a.pk}/budget/",
        {"daily_budget_usd": "2.5", "rate_limit_rpm": "30"},
        headers=HTMX,
    )
    assert response.status_code == 200 and "Saved" in response.text
    assert "<html" not in response.text and f'id="user-{dev_a.pk}"' in response.text
    assert 'value="2.50"' in response.text and 'value="30"' in response.text  # the new values
    dev_a.budget.refresh_from_db()
    assert dev_a.budget.daily_budget_usd == Decimal("2.5") and dev_a.budget.rate_limit_rpm == 30
    event = _last_admin_action("user.update")
    assert event.actor_id == admin_a.pk and event.target_id == str(dev_a.pk)
    assert event.changes["daily_budget_usd"] == {"before": "10", "after": "2.5"}


def test_invalid_budget_is_refused_with_the_reason(admin_client, dev_a):
    response = admin_client.post(
        f"/dashboard/users/{dev_a.pk}/budget/",
        {"daily_budget_usd": "-1", "rate_limit_rpm": ""},
        headers=HTMX,
    )
    assert "greater than or equal to 0" in response.text and "Saved" not in response.text
    dev_a.budget.refresh_from_db()
    assert dev_a.budget.daily_budget_usd == Decimal("10")


def test_admin_adds_a_user_to_their_tenant(admin_client, tenant_a, admin_a):
    response = admin_client.post(
        "/dashboard/users/",
        {"email": "new@acme.test", "role": "developer", "daily_budget_usd": "3", "password": ""},
        headers=HTMX,
    )
    assert response.status_code == 200 and "Added new@acme.test" in response.text
    created = User.objects.get(email="new@acme.test")
    assert created.tenant == tenant_a and created.budget.daily_budget_usd == Decimal("3")
    assert _last_admin_action("user.create").actor_id == admin_a.pk
    duplicate = admin_client.post(
        "/dashboard/users/", {"email": "new@acme.test", "role": "developer"}, headers=HTMX
    )
    assert "already exists" in duplicate.text


def test_users_page_lists_only_the_tenant(admin_client, dev_a, dev_b):
    page = admin_client.get("/dashboard/users/")
    assert "dev@acme.test" in page.text and "dev@globex.test" not in page.text


# --- Keys -------------------------------------------------------------------------------------


def test_key_allowlist_and_rate_limit_edit_then_revoke(admin_client, admin_a, dev_a):
    key, _ = mint_key(actor=dev_a, owner=dev_a, name="svc")
    edited = admin_client.post(
        f"/dashboard/keys/{key.pk}/policy/",
        {"allowed_models": "gpt-4o-mini byo:*", "rate_limit_rpm": "12"},
        headers=HTMX,
    )
    assert edited.status_code == 200 and "Saved" in edited.text
    key.refresh_from_db()
    assert key.allowed_models == ["gpt-4o-mini", "byo:*"] and key.rate_limit_rpm == 12
    assert _last_admin_action("key.update").actor_id == admin_a.pk

    revoked = admin_client.post(f"/dashboard/keys/{key.pk}/revoke/", headers=HTMX)
    assert "revoked" in revoked.text
    assert not ApiKey.objects.usable().filter(pk=key.pk).exists()
    assert _last_admin_action("key.revoke").actor_id == admin_a.pk


def test_plain_form_posts_redirect_back_to_the_list(operator_client, dev_a):
    key, _ = mint_key(actor=dev_a, owner=dev_a, name="svc")
    response = operator_client.post(f"/dashboard/keys/{key.pk}/revoke/", {"tenant": "acme"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/keys/?tenant=acme"


# --- Grants -------------------------------------------------------------------------------------


def test_admin_adds_a_grant(admin_client, admin_a, dev_a):
    expires = (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    response = admin_client.post(
        "/dashboard/grants/",
        {"user": dev_a.pk, "amount_usd": "5", "expires_at": expires, "reason": "hackathon"},
        headers=HTMX,
    )
    assert response.status_code == 200 and "Granted 5" in response.text
    grant = Grant.objects.get(user=dev_a)
    assert grant.amount_usd == grant.remaining_usd == Decimal("5") and grant.reason == "hackathon"
    assert _last_admin_action("grant.create").actor_id == admin_a.pk
    assert "hackathon" in admin_client.get("/dashboard/grants/").text


def test_grant_in_the_past_or_to_another_tenant_is_refused(admin_client, dev_a, dev_b):
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    expired = admin_client.post(
        "/dashboard/grants/",
        {"user": dev_a.pk, "amount_usd": "5", "expires_at": past},
        headers=HTMX,
    )
    assert "must expire in the future" in expired.text
    foreign = admin_client.post(
        "/dashboard/grants/",
        {"user": dev_b.pk, "amount_usd": "5", "expires_at": future},
        headers=HTMX,
    )
    assert "Select a valid choice" in foreign.text
    assert not Grant.objects.exists()


# --- Tenant caps and PII ------------------------------------------------------------------------


def test_caps_and_pii_settings(admin_client, admin_a, tenant_a):
    page = admin_client.get("/dashboard/settings/")
    assert page.status_code == 200 and 'name="daily_cap_usd"' in page.text
    response = admin_client.post(
        "/dashboard/settings/",
        {
            "daily_cap_usd": "50",
            "monthly_cap_usd": "",
            "alert_threshold_pct": "90",
            "pii_mode": "redact",
            "pii_on_detect": "warn",
        },
        headers=HTMX,
    )
    assert response.status_code == 200 and "Saved" in response.text
    tenant_a.refresh_from_db()
    assert tenant_a.daily_cap_usd == Decimal("50") and tenant_a.monthly_cap_usd is None
    assert (tenant_a.pii_mode, tenant_a.pii_on_detect, tenant_a.alert_threshold_pct) == (
        "redact",
        "warn",
        90,
    )
    event = _last_admin_action("tenant.update")
    assert event.actor_id == admin_a.pk and event.changes["pii_mode"]["after"] == "redact"


def test_operator_settings_need_a_picked_tenant(operator_client, tenant_a):
    assert operator_client.get("/dashboard/settings/").context["form"] is None
    assert operator_client.get("/dashboard/settings/?tenant=acme").context["form"] is not None


# --- Accounts --------------------------------------------------------------------------------------


def test_login_logout_and_password_change(client, operator, tenant_a):
    from governance.services.users import create_user

    create_user(actor=operator, email="pw@acme.test", tenant=tenant_a, password="first-pass-123")
    login = client.get("/accounts/login/")
    assert login.status_code == 200 and 'name="csrfmiddlewaretoken"' in login.text
    signed_in = client.post(
        "/accounts/login/", {"username": "pw@acme.test", "password": "first-pass-123"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/me/"
    changed = client.post(
        "/accounts/password_change/",
        {
            "old_password": "first-pass-123",
            "new_password1": "second-pass-456",
            "new_password2": "second-pass-456",
        },
    )
    assert changed.status_code == 302
    assert client.get("/me/").status_code == 200  # still signed in after the change
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/me/").status_code == 302
    assert not client.login(username="pw@acme.test", password="first-pass-123")
    assert client.login(username="pw@acme.test", password="second-pass-456")


# --- Query counts -----------------------------------------------------------------------------


def _queries_for(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_list_pages_do_not_query_per_row(admin_client, operator, tenant_a, dev_a):
    from governance.services.grants import create_grant
    from governance.services.users import create_user

    soon = timezone.now() + timedelta(days=1)
    pages = ("/dashboard/users/", "/dashboard/keys/", "/dashboard/grants/")
    before = {path: _queries_for(admin_client, path) for path in pages}
    for n in range(6):
        user = create_user(actor=operator, email=f"bulk{n}@acme.test", tenant=tenant_a)
        mint_key(actor=operator, owner=user, name=f"k{n}")
        create_grant(actor=operator, user=user, amount_usd=Decimal("1"), expires_at=soon)
    after = {path: _queries_for(admin_client, path) for path in pages}
    assert after == before
