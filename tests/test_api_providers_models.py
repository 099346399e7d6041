"""Providers (credential write-only, stored encrypted), model routes and the price table."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from governance.crypto import decrypt
from governance.models import ModelRoute, Price, Provider

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

SECRET = "sk-test-0123456789abcdefSECRET"
OPENAI = {
    "name": "openai-us",
    "kind": "openai",
    "base_url": "https://api.openai.com/v1",
    "api_key": SECRET,
    "region": "us",
    "baa": True,
    "monthly_budget_usd": "1000",
    "hard_cap": True,
    "priority": 10,
}


@pytest.fixture
def provider(operator):
    from governance.services.providers import create_provider

    return create_provider(
        actor=operator, name="anthropic", kind="anthropic", base_url="https://api.anthropic.com"
    )


def test_a_provider_credential_is_stored_encrypted_and_never_returned(http_as, operator):
    api = http_as(operator)
    response = api.post("/providers", OPENAI)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["has_api_key"] is True
    assert "api_key" not in body and SECRET not in response.text
    assert (body["name"], body["kind"], body["region"]) == ("openai-us", "openai", "us")
    assert (body["baa"], body["hard_cap"], body["priority"]) == (True, True, 10)
    assert body["monthly_budget_usd"] == "1000.00"

    stored = Provider.objects.get(pk=body["id"])
    assert stored.api_key_encrypted and SECRET not in stored.api_key_encrypted
    assert decrypt(stored.api_key_encrypted) == SECRET
    assert SECRET not in api.get("/providers").text
    assert SECRET not in api.get(f"/providers/{body['id']}").text
    assert SECRET not in str(list(AuditEvent.objects.values()))
    assert SECRET not in str(list(Provider.history.values()))


def test_a_provider_without_a_credential_says_so(http_as, operator):
    body = (
        http_as(operator)
        .post(
            "/providers", {"name": "ollama", "kind": "ollama", "base_url": "http://localhost:11434"}
        )
        .json()
    )
    assert body["has_api_key"] is False
    assert (body["region"], body["priority"], body["enabled"]) == ("us", 100, True)


def test_patch_rotates_the_credential_without_echoing_it(http_as, operator, provider):
    api = http_as(operator)
    response = api.patch(f"/providers/{provider.pk}", {"api_key": "sk-rotated", "priority": 5})
    assert response.status_code == 200, response.text
    assert response.json()["has_api_key"] is True and response.json()["priority"] == 5
    assert "sk-rotated" not in response.text
    provider.refresh_from_db()
    assert decrypt(provider.api_key_encrypted) == "sk-rotated"
    event = AuditEvent.objects.get(request_id=response.headers["x-candela-request-id"])
    assert event.changes["api_key"] == {"before": "***", "after": "***"}
    assert "sk-rotated" not in str(event.changes)
    cleared = api.patch(f"/providers/{provider.pk}", {"api_key": ""}).json()
    assert cleared["has_api_key"] is False


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "skynet"}, "kind"),
        ({"base_url": "not a url"}, "base_url"),
        ({"region": "mars"}, "region"),
        ({"monthly_budget_usd": "-3"}, "monthly_budget_usd"),
    ],
)
def test_invalid_provider_fields_are_422(http_as, operator, fields, field):
    response = http_as(operator).post("/providers", {**OPENAI, **fields})
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]


def test_a_duplicate_provider_name_is_409(http_as, operator, provider):
    response = http_as(operator).post(
        "/providers", {"name": "anthropic", "kind": "anthropic", "base_url": "https://x.test"}
    )
    assert response.status_code == 409


def test_a_known_model_takes_its_prices_from_the_price_table(http_as, operator, provider):
    assert Price.objects.filter(model="claude-sonnet-4-0").exists()
    response = http_as(operator).post(
        "/models", {"name": "claude-sonnet-4-0", "provider": "anthropic"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["provider"] == "anthropic" and body["upstream_model"] == ""
    assert (body["input_usd_per_mtok"], body["output_usd_per_mtok"]) == ("3.00", "15.00")
    event = AuditEvent.objects.get(request_id=response.headers["x-candela-request-id"])
    assert event.action == "model.create" and event.changes["name"]["after"] == "claude-sonnet-4-0"


def test_an_alias_is_priced_by_its_upstream_model(http_as, operator, provider):
    body = (
        http_as(operator)
        .post(
            "/models",
            {"name": "fast", "provider": "anthropic", "upstream_model": "claude-haiku-4-5"},
        )
        .json()
    )
    assert (body["input_usd_per_mtok"], body["output_usd_per_mtok"]) == ("1.00", "5.00")


def test_an_unknown_model_needs_explicit_prices(http_as, operator, provider):
    api = http_as(operator)
    refused = api.post("/models", {"name": "my-finetune", "provider": "anthropic"})
    assert refused.status_code == 422
    assert "input_usd_per_mtok" in refused.json()["error"]["fields"]
    priced = api.post(
        "/models",
        {
            "name": "my-finetune",
            "provider": "anthropic",
            "input_usd_per_mtok": "0.5",
            "output_usd_per_mtok": 1.25,
            "fallbacks": ["claude-haiku-4-5"],
        },
    )
    assert priced.status_code == 201, priced.text
    assert (priced.json()["input_usd_per_mtok"], priced.json()["output_usd_per_mtok"]) == (
        "0.50",
        "1.25",
    )
    assert priced.json()["fallbacks"] == ["claude-haiku-4-5"]


def test_model_references_and_duplicates(http_as, operator, provider):
    api = http_as(operator)
    missing = api.post("/models", {"name": "gpt-4o", "provider": "nope"})
    assert missing.status_code == 404 and "provider" in missing.json()["error"]["fields"]
    assert api.post("/models", {"name": "gpt-4o", "provider": "anthropic"}).status_code == 201
    assert api.post("/models", {"name": "gpt-4o", "provider": "anthropic"}).status_code == 409
    assert ModelRoute.objects.count() == 1


def test_the_same_model_on_two_providers_is_listed_twice(http_as, operator, provider):
    api = http_as(operator)
    api.post("/providers", OPENAI)
    api.post("/models", {"name": "gpt-4o", "provider": "anthropic"})
    api.post("/models", {"name": "gpt-4o", "provider": "openai-us"})
    listed = api.get("/models", name="gpt-4o").json()
    assert listed["count"] == 2
    assert [m["provider"] for m in listed["items"]] == ["openai-us", "anthropic"]  # by priority
    route_id = listed["items"][1]["id"]
    patched = api.patch(f"/models/{route_id}", {"input_usd_per_mtok": "9"})
    assert patched.json()["input_usd_per_mtok"] == "9.00"


def test_the_price_table_is_listed(http_as, admin_a):
    prices = http_as(admin_a).get("/prices", limit=1000).json()
    assert prices["count"] == Price.objects.count() > 10
    by_model = {p["model"]: p for p in prices["items"]}
    assert by_model["gpt-4o-mini"] == {
        "model": "gpt-4o-mini",
        "vendor": "openai",
        "input_usd_per_mtok": "0.15",
        "output_usd_per_mtok": "0.60",
    }
    only_gemini = http_as(admin_a).get("/prices", vendor="gemini").json()["items"]
    assert {p["vendor"] for p in only_gemini} == {"gemini"}


def test_tenant_admins_read_providers_and_models_but_cannot_change_them(http_as, admin_a, provider):
    api = http_as(admin_a)
    assert [p["name"] for p in api.get("/providers").json()["items"]] == ["anthropic"]
    assert api.get("/models").status_code == 200
    assert api.post("/providers", OPENAI).status_code == 403
    assert api.patch(f"/providers/{provider.pk}", {"priority": 1}).status_code == 403
    assert api.post("/models", {"name": "gpt-4o", "provider": "anthropic"}).status_code == 403
    assert not Provider.objects.filter(name="openai-us").exists()
    assert not ModelRoute.objects.exists()
