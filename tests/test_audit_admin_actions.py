"""Changes made in the Django admin land as admin_action events: who, IP, request id, diff."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest

from audit.models import AuditEvent
from audit.services import verify_chain
from governance.models import ApiKey, Budget, Provider
from governance.services.keys import mint_key
from governance.services.providers import create_provider

pytestmark = pytest.mark.django_db

SECRET = "sk-live-very-secret-credential-123"


class _FormValues(HTMLParser):
    """What a browser would submit for the admin's change form, unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self._in_form = False

    def _add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method", "").lower() == "post":
            self._in_form = True
        if not self._in_form or ("name" not in a and tag != "option"):
            return
        name = a.get("name", "")
        if "__prefix__" in name:
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self._add(name, a.get("value") or "on")
            elif kind not in {"submit", "button", "file"}:
                self._add(name, a.get("value") or "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value") or "")
        elif tag == "textarea":
            self._textarea = name
            self._add(name, "")

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def post_change(client, path: str, changes: dict[str, str], *, request_id: str, ip: str):
    page = client.get(path)
    assert page.status_code == 200
    parser = _FormValues()
    parser.feed(page.content.decode())
    data = {**parser.values, **{name: [value] for name, value in changes.items()}}
    data["_save"] = ["Save"]
    response = client.post(path, data, headers={"X-Request-Id": request_id, "X-Forwarded-For": ip})
    assert response.status_code == 302, response.context and [
        f.errors for f in [response.context["adminform"].form]
    ]
    return response


@pytest.fixture
def signed_in(client, operator):
    client.force_login(operator)
    return client


def _only(action: str) -> AuditEvent:
    (event,) = AuditEvent.objects.filter(kind="admin_action", action=action)
    return event


def test_tenant_cap_pii_and_residency_change(signed_in, operator, tenant_a):
    post_change(
        signed_in,
        f"/admin/tenants/tenant/{tenant_a.pk}/change/",
        {"daily_cap_usd": "150", "pii_mode": "redact", "data_residency": "eu"},
        request_id="req-admin-tenant",
        ip="203.0.113.5",
    )
    tenant_a.refresh_from_db()
    assert tenant_a.daily_cap_usd == Decimal("150")

    event = _only("tenant.update")
    assert (event.actor_id, event.actor_name) == (operator.pk, "op")
    assert event.ip == "203.0.113.5"
    assert event.request_id == "req-admin-tenant"
    assert (event.tenant_id, event.tenant_slug) == (tenant_a.pk, "acme")
    assert (event.target_type, event.target_id) == ("tenants.tenant", str(tenant_a.pk))
    assert event.changes == {
        "daily_cap_usd": {"before": None, "after": "150"},
        "pii_mode": {"before": "off", "after": "redact"},
        "data_residency": {"before": "", "after": "eu"},
    }
    assert verify_chain().ok


def test_user_budget_changed_in_the_user_page(signed_in, operator, dev_a):
    post_change(
        signed_in,
        f"/admin/tenants/user/{dev_a.pk}/change/",
        {"budget-0-daily_budget_usd": "25", "budget-0-rate_limit_rpm": "90"},
        request_id="req-admin-budget",
        ip="203.0.113.6",
    )
    budget = Budget.objects.get(user=dev_a)
    assert (budget.daily_budget_usd, budget.rate_limit_rpm) == (Decimal("25"), 90)

    event = _only("budget.update")
    assert (event.actor_name, event.ip, event.request_id) == (
        "op",
        "203.0.113.6",
        "req-admin-budget",
    )
    assert event.tenant_id == dev_a.tenant_id
    assert event.changes == {
        "daily_budget_usd": {"before": "10", "after": "25"},
        "rate_limit_rpm": {"before": None, "after": 90},
    }


def test_key_allowlist_change(signed_in, admin_a, dev_a):
    key, _ = mint_key(actor=admin_a, owner=dev_a, name="ci", allowed_models=["gpt-4o-mini"])
    post_change(
        signed_in,
        f"/admin/governance/apikey/{key.pk}/change/",
        {"allowed_models": '["gpt-4o-mini", "byo:*"]'},
        request_id="req-admin-key",
        ip="203.0.113.7",
    )
    assert ApiKey.objects.get(pk=key.pk).allowed_models == ["gpt-4o-mini", "byo:*"]
    event = _only("apikey.update")
    assert event.changes == {
        "allowed_models": {"before": ["gpt-4o-mini"], "after": ["gpt-4o-mini", "byo:*"]}
    }
    assert (event.ip, event.request_id) == ("203.0.113.7", "req-admin-key")


def test_provider_budget_and_credential_change_never_stores_the_secret(signed_in, operator):
    provider = create_provider(
        actor=operator, name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    post_change(
        signed_in,
        f"/admin/governance/provider/{provider.pk}/change/",
        {"monthly_budget_usd": "500", "api_key": SECRET},
        request_id="req-admin-provider",
        ip="203.0.113.8",
    )
    assert Provider.objects.get(pk=provider.pk).has_credential
    changes = [
        e.changes
        for e in AuditEvent.objects.filter(
            action="provider.update", request_id="req-admin-provider"
        )
    ]
    assert {"monthly_budget_usd": {"before": None, "after": "500"}} in changes
    assert {"api_key": {"before": "***", "after": "***"}} in changes
    stored = repr(list(AuditEvent.objects.values()))
    assert SECRET not in stored


def test_grant_added_and_model_price_changed(signed_in, operator, dev_a):
    from governance.models import Grant, ModelRoute
    from governance.services.providers import create_model_route

    post_change(
        signed_in,
        "/admin/governance/grant/add/",
        {
            "user": str(dev_a.pk),
            "amount_usd": "7.5",
            "expires_at_0": "2031-01-31",
            "expires_at_1": "12:00:00",
            "reason": "hackathon",
        },
        request_id="req-admin-grant",
        ip="203.0.113.10",
    )
    grant = Grant.objects.get(user=dev_a)
    event = _only("grant.create")
    assert (event.actor_name, event.ip, event.request_id) == (
        "op",
        "203.0.113.10",
        "req-admin-grant",
    )
    assert event.tenant_id == dev_a.tenant_id
    assert event.target_id == str(grant.pk)
    assert event.changes["amount_usd"] == {"before": None, "after": "7.5"}
    assert event.changes["reason"] == {"before": None, "after": "hackathon"}

    provider = create_provider(
        actor=operator, name="anthropic", kind="anthropic", base_url="https://api.anthropic.com"
    )
    route = create_model_route(
        actor=operator,
        name="claude-sonnet-4-5",
        provider=provider,
        input_usd_per_mtok=Decimal("3"),
        output_usd_per_mtok=Decimal("15"),
    )
    post_change(
        signed_in,
        f"/admin/governance/modelroute/{route.pk}/change/",
        {"input_usd_per_mtok": "2.5"},
        request_id="req-admin-model",
        ip="203.0.113.11",
    )
    assert ModelRoute.objects.get(pk=route.pk).input_usd_per_mtok == Decimal("2.5")
    event = _only("modelroute.update")
    assert event.changes == {"input_usd_per_mtok": {"before": "3", "after": "2.5"}}
    assert (event.ip, event.request_id) == ("203.0.113.11", "req-admin-model")
