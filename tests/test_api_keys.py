"""Gateway keys over the API: the secret shown once, stored as a digest, listed and revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import ApiKey
from tenants.tokens import digest_secret, is_well_formed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def _mint(api, user, **fields):
    response = api.post("/keys", {"name": "ci", "user": user.pk, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_key_is_answered_with_its_secret_once_and_stored_as_a_digest(http_as, admin_a, dev_a):
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    body = _mint(
        http_as(admin_a),
        dev_a,
        allowed_models=["gpt-4o-mini", "byo:*"],
        rate_limit_rpm=60,
        data_residency="eu",
        pii_mode="redact",
        pii_on_detect="warn",
        expires_at=expires.isoformat(),
    )
    raw = body["key"]
    assert is_well_formed(raw, "ck")
    assert body["prefix"] == raw[:12]
    assert (body["user"], body["tenant"], body["name"]) == (dev_a.pk, "acme", "ci")
    assert body["allowed_models"] == ["gpt-4o-mini", "byo:*"]
    assert (body["rate_limit_rpm"], body["data_residency"]) == (60, "eu")
    assert (body["pii_mode"], body["pii_on_detect"]) == ("redact", "warn")
    assert body["expires_at"] == expires.isoformat().replace("+00:00", "Z")
    assert body["revoked_at"] is None

    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.digest == digest_secret(raw)
    assert raw not in str(ApiKey.objects.filter(pk=stored.pk).values().get())
    assert raw not in str(list(ApiKey.history.values()))
    assert raw[12:] not in str(list(AuditEvent.objects.values()))


def test_lists_and_reads_never_show_the_secret(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    raw = _mint(api, dev_a)["key"]
    listed = api.get("/keys")
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert raw not in listed.text and raw[12:] not in listed.text
    assert "key" not in listed.json()["items"][0]
    assert "digest" not in listed.json()["items"][0]
    single = api.get(f"/keys/{listed.json()['items'][0]['id']}")
    assert raw[12:] not in single.text and "digest" not in single.json()


def test_optional_policy_fields_default_to_unset(http_as, operator, dev_a):
    body = _mint(http_as(operator), dev_a)
    assert body["allowed_models"] == []
    assert body["data_residency"] is None and body["pii_mode"] is None
    assert body["expires_at"] is None and body["rate_limit_rpm"] is None


def test_revoking_stamps_the_key_and_takes_it_out_of_use(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    body = _mint(api, dev_a)
    response = api.delete(f"/keys/{body['id']}")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert not ApiKey.objects.usable().filter(pk=body["id"]).exists()
    event = AuditEvent.objects.get(request_id=response.headers["x-candela-request-id"])
    assert (event.action, event.actor_id) == ("key.revoke", admin_a.pk)
    assert event.changes["revoked_at"]["before"] is None
    again = api.delete(f"/keys/{body['id']}")
    assert again.status_code == 200
    assert AuditEvent.objects.filter(action="key.revoke").count() == 1


def test_active_filter_separates_live_and_revoked_keys(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    live = _mint(api, dev_a)
    dead = _mint(api, dev_a)
    api.delete(f"/keys/{dead['id']}")
    assert [k["id"] for k in api.get("/keys", active="true").json()["items"]] == [live["id"]]
    assert [k["id"] for k in api.get("/keys", active="false").json()["items"]] == [dead["id"]]
    assert api.get("/keys", user=dev_a.pk).json()["count"] == 2


def test_patch_updates_policy_and_audits_the_change(http_as, admin_a, dev_a):
    api = http_as(admin_a)
    body = _mint(api, dev_a, allowed_models=["gpt-4o*"])
    response = api.patch(f"/keys/{body['id']}", {"allowed_models": ["claude-*"], "pii_mode": None})
    assert response.status_code == 200, response.text
    assert response.json()["allowed_models"] == ["claude-*"]
    assert ApiKey.objects.get(pk=body["id"]).allowed_models == ["claude-*"]
    event = AuditEvent.objects.get(request_id=response.headers["x-candela-request-id"])
    assert event.changes == {"allowed_models": {"before": ["gpt-4o*"], "after": ["claude-*"]}}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"data_residency": "mars"}, "data_residency"),
        ({"allowed_models": "gpt-4o"}, "allowed_models"),
        ({"allowed_models": [""]}, "allowed_models"),
        ({"rate_limit_rpm": -1}, "rate_limit_rpm"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_key_fields_are_422(http_as, admin_a, dev_a, fields, field):
    response = http_as(admin_a).post("/keys", {"name": "ci", "user": dev_a.pk, **fields})
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert not ApiKey.objects.exists()


def test_an_operators_key_belongs_to_no_tenant_and_admins_never_see_it(http_as, operator, admin_a):
    response = http_as(operator).post("/keys", {"name": "platform", "user": operator.pk})
    assert response.status_code == 201, response.text
    assert response.json()["tenant"] is None
    assert http_as(operator).get("/keys").json()["count"] == 1
    admin = http_as(admin_a)
    assert admin.get("/keys").json()["count"] == 0
    assert admin.get(f"/keys/{response.json()['id']}").status_code == 404
