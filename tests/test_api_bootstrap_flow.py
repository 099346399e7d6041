"""The issue's "done when": with an operator token, stand up a tenant end to end over HTTP,
and every write leaves an admin_action event with its diff, actor and request id."""

from __future__ import annotations

import httpx
import pytest

from audit.models import AuditEvent
from governance.models import ApiKey
from tenants.tokens import digest_secret

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def _written(response, status: int, action: str, actor) -> dict:
    assert response.status_code == status, response.text
    request_id = response.headers["x-candela-request-id"]
    events = AuditEvent.objects.filter(request_id=request_id, kind="admin_action")
    assert [event.action for event in events] == [action]
    event = events.get()
    assert event.actor_id == actor.pk and event.actor_name == actor.get_username()
    assert event.changes, f"{action} has no diff"
    assert all(set(change) == {"before", "after"} for change in event.changes.values())
    return response.json() if response.content else {}


def test_operator_bootstraps_a_tenant_end_to_end(http_as, operator):
    api = http_as(operator)

    tenant = _written(
        api.post("/tenants", {"name": "Umbrella", "slug": "umbrella", "daily_cap_usd": "50"}),
        201,
        "tenant.create",
        operator,
    )
    user = _written(
        api.post(
            "/users",
            {"email": "alice@umbrella.test", "tenant": "umbrella", "daily_budget_usd": "5"},
        ),
        201,
        "user.create",
        operator,
    )
    provider = _written(
        api.post(
            "/providers",
            {
                "name": "openai",
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "api_key": "sk-bootstrap-secret",
            },
        ),
        201,
        "provider.create",
        operator,
    )
    model = _written(
        api.post("/models", {"name": "gpt-4o-mini", "provider": "openai"}),
        201,
        "model.create",
        operator,
    )
    key = _written(
        api.post(
            "/keys", {"name": "alice-ci", "user": user["id"], "allowed_models": ["gpt-4o-mini"]}
        ),
        201,
        "key.mint",
        operator,
    )

    assert tenant["slug"] == "umbrella" and tenant["daily_cap_usd"] == "50.00"
    assert user["tenant"] == "umbrella" and user["daily_budget_usd"] == "5.00"
    assert provider["has_api_key"] is True
    assert (model["input_usd_per_mtok"], model["output_usd_per_mtok"]) == ("0.15", "0.60")
    assert ApiKey.objects.get(pk=key["id"]).digest == digest_secret(key["key"])

    assert [t["slug"] for t in api.get("/tenants").json()["items"]] == ["umbrella"]
    assert "alice@umbrella.test" in [u["email"] for u in api.get("/users").json()["items"]]
    assert [p["name"] for p in api.get("/providers").json()["items"]] == ["openai"]
    assert [m["name"] for m in api.get("/models").json()["items"]] == ["gpt-4o-mini"]
    keys = api.get("/keys")
    assert [k["prefix"] for k in keys.json()["items"]] == [key["prefix"]]
    assert key["key"] not in keys.text

    verdict = api.get("/audit/verify").json()
    assert verdict["ok"] is True and verdict["events"] == AuditEvent.objects.count()


def test_every_other_write_is_audited_too(http_as, operator, dev_a):
    api = http_as(operator)
    key = api.post("/keys", {"name": "k", "user": dev_a.pk}).json()
    provider = api.post(
        "/providers", {"name": "p", "kind": "ollama", "base_url": "http://localhost:11434"}
    ).json()
    model = api.post(
        "/models",
        {"name": "llama3", "provider": "p", "input_usd_per_mtok": 0, "output_usd_per_mtok": 0},
    ).json()
    _written(api.patch("/tenants/acme", {"pii_mode": "redact"}), 200, "tenant.update", operator)
    _written(api.patch(f"/users/{dev_a.pk}", {"rate_limit_rpm": 3}), 200, "user.update", operator)
    _written(
        api.post(f"/users/{dev_a.pk}/grants", {"amount_usd": 2, "expires_at": "2099-01-01T00:00Z"}),
        201,
        "grant.create",
        operator,
    )
    _written(api.patch(f"/keys/{key['id']}", {"rate_limit_rpm": 7}), 200, "key.update", operator)
    _written(api.delete(f"/keys/{key['id']}"), 200, "key.revoke", operator)
    _written(
        api.patch(f"/providers/{provider['id']}", {"priority": 1}), 200, "provider.update", operator
    )
    _written(
        api.patch(f"/models/{model['id']}", {"output_usd_per_mtok": "0.1"}),
        200,
        "model.update",
        operator,
    )
    _written(api.delete(f"/users/{dev_a.pk}"), 204, "user.delete", operator)

    token = api.post(f"/users/{operator.pk}/tokens", {"name": "second"})
    assert token.status_code == 201
    issued = AuditEvent.objects.get(request_id=token.headers["x-candela-request-id"])
    assert (issued.kind, issued.action, issued.actor_id) == ("auth", "token.issued", operator.pk)
    assert token.json()["token"] not in str(list(AuditEvent.objects.values()))


def test_the_schema_and_docs_are_served(live_api):
    schema = httpx.get(f"{live_api}/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/v1/tenants",
        "/api/v1/keys/{key_id}",
        "/api/v1/me/keys",
        "/api/v1/audit/verify",
    ]:
        assert path in paths
    schemes = schema.json()["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"} in schemes.values()
    docs = httpx.get(f"{live_api}/api/v1/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "/api/v1/openapi.json" in docs.text
