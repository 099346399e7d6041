"""Tenants over the API: creation with every field, reads by id or slug, changes, refusals."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tenants.models import Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

FULL_TENANT = {
    "name": "Initech",
    "slug": "initech",
    "daily_cap_usd": "25.5",
    "monthly_cap_usd": 500,
    "alert_threshold_pct": 90,
    "pii_mode": "redact",
    "pii_on_detect": "warn",
    "data_residency": "eu",
    "is_phi": True,
    "baa_providers": ["azure-eu"],
    "alert_webhooks": [{"kind": "slack", "url": "https://hooks.slack.test/T1"}],
}


def test_operator_creates_a_tenant_and_gets_every_field_back(http_as, operator):
    response = http_as(operator).post("/tenants", FULL_TENANT)
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["created_at"].endswith("Z")
    expected = {**FULL_TENANT, "daily_cap_usd": "25.50", "monthly_cap_usd": "500.00"}
    assert {name: body[name] for name in FULL_TENANT} == expected
    stored = Tenant.objects.get(slug="initech")
    assert stored.pii_mode == "redact" and stored.data_residency == "eu"


def test_defaults_apply_when_fields_are_left_out(http_as, operator):
    body = http_as(operator).post("/tenants", {"name": "Tiny", "slug": "tiny"}).json()
    assert body["alert_threshold_pct"] == 80
    assert (body["pii_mode"], body["pii_on_detect"]) == ("off", "allow")
    assert body["daily_cap_usd"] is None and body["data_residency"] is None
    assert body["is_phi"] is False and body["alert_webhooks"] == []


def test_read_by_id_or_slug_and_list(http_as, operator, tenant_a, tenant_b):
    api = http_as(operator)
    assert api.get(f"/tenants/{tenant_b.pk}").json()["slug"] == "globex"
    assert api.get("/tenants/acme").json()["id"] == tenant_a.pk
    listed = api.get("/tenants").json()
    assert listed["count"] == 2
    assert [t["slug"] for t in listed["items"]] == ["acme", "globex"]
    page = api.get("/tenants", limit=1, offset=1).json()
    assert (page["count"], [t["slug"] for t in page["items"]]) == (2, ["globex"])
    assert api.get("/tenants/nope").status_code == 404


def test_patch_changes_only_what_is_sent_and_audits_the_diff(http_as, operator, tenant_a):
    api = http_as(operator)
    response = api.patch(
        "/tenants/acme",
        {"daily_cap_usd": "7.25", "alert_webhooks": [{"kind": "teams", "url": "https://t.test/x"}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["daily_cap_usd"] == "7.25"
    assert body["alert_webhooks"] == [{"kind": "teams", "url": "https://t.test/x"}]
    assert body["name"] == "Acme"
    event = AuditEvent.objects.get(request_id=response.headers["x-candela-request-id"])
    assert event.action == "tenant.update" and event.actor_id == operator.pk
    assert event.changes["daily_cap_usd"] == {"before": None, "after": "7.25"}
    assert "name" not in event.changes

    cleared = api.patch("/tenants/acme", {"daily_cap_usd": None}).json()
    assert cleared["daily_cap_usd"] is None


def test_a_phi_tenant_without_baa_providers_is_a_422_with_the_field(http_as, operator):
    response = http_as(operator).post(
        "/tenants", {"name": "Clinic", "slug": "clinic", "is_phi": True}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "BAA" in error["fields"]["is_phi"]
    assert not Tenant.objects.filter(slug="clinic").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"daily_cap_usd": "-1"}, "daily_cap_usd"),
        ({"alert_threshold_pct": 150}, "alert_threshold_pct"),
        ({"pii_mode": "shred"}, "pii_mode"),
        ({"alert_webhooks": [{"kind": "email", "url": "https://x.test"}]}, "alert_webhooks.0.kind"),
        ({"alert_webhooks": [{"kind": "slack", "url": "ftp://x.test"}]}, "alert_webhooks"),
        ({"slug": "not a slug!"}, "slug"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_invalid_values_are_422_naming_the_field(http_as, operator, tenant_a, change, field):
    response = http_as(operator).patch("/tenants/acme", change)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    tenant_a.refresh_from_db()
    assert tenant_a.daily_cap_usd is None and tenant_a.slug == "acme"


def test_a_duplicate_slug_is_a_409(http_as, operator, tenant_a):
    response = http_as(operator).post("/tenants", {"name": "Other", "slug": "acme"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "slug" in response.json()["error"]["fields"]


def test_wrong_types_and_broken_json_are_client_errors(http_as, operator):
    api = http_as(operator)
    typed = api.post("/tenants", {"name": "X", "slug": "x", "daily_cap_usd": {"a": 1}})
    assert typed.status_code == 422 and "daily_cap_usd" in typed.json()["error"]["fields"]
    broken = api.http.post(
        "/tenants", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "bad_request"
    missing = api.post("/tenants", {"slug": "x"})
    assert missing.status_code == 422 and "name" in missing.json()["error"]["fields"]


def test_a_tenant_admin_sees_and_edits_only_their_own_tenant(http_as, admin_a, tenant_b):
    api = http_as(admin_a)
    assert [t["slug"] for t in api.get("/tenants").json()["items"]] == ["acme"]
    assert api.get("/tenants/acme").status_code == 200
    assert api.get("/tenants/globex").status_code == 404
    assert api.get(f"/tenants/{tenant_b.pk}").status_code == 404
    assert api.patch("/tenants/globex", {"name": "Mine now"}).status_code == 404
    assert (
        api.patch("/tenants/acme", {"alert_threshold_pct": 50}).json()["alert_threshold_pct"] == 50
    )
    refused = api.post("/tenants", {"name": "New", "slug": "new"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
