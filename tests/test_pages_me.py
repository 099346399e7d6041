"""The self-service page /me/: own keys (minted once, revoked), usage, budget, grants."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import ApiKey, UsageRecord
from governance.services.grants import create_grant
from governance.services.keys import mint_key
from tenants.tokens import digest_secret

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]
HTMX = {"HX-Request": "true"}


def _spend(user, cost: str, *, n: int, decision: str = "allowed", reason: str = "", at=None):
    return UsageRecord.objects.create(
        request_id=f"me-{user.pk}-{n}",
        created_at=at or timezone.now(),
        tenant_id=user.tenant_id,
        user_id=user.pk,
        model="gpt-4o-mini",
        decision=decision,
        reason=reason,
        prompt_tokens=100,
        completion_tokens=20,
        cost_usd=Decimal(cost),
    )


@pytest.fixture
def dev_client(client, dev_a):
    client.force_login(dev_a)
    return client


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/me/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/me/"


def test_minted_key_is_shown_once_and_only_its_digest_is_stored(dev_client, dev_a):
    page = dev_client.get("/me/")
    assert page.status_code == 200 and "No keys yet." in page.text

    minted = dev_client.post(
        "/me/keys/", {"name": "laptop", "allowed_models": "gpt-4o*, byo:*"}, headers=HTMX
    )
    assert minted.status_code == 200
    key = ApiKey.objects.get(owner=dev_a)
    raw = minted.context["minted"]["raw"]
    assert raw.startswith("ck-") and raw in minted.text
    assert key.digest == digest_secret(raw) and key.allowed_models == ["gpt-4o*", "byo:*"]
    # The fragment also carries the new row for the key list (out-of-band swap).
    assert (
        'hx-swap-oob="afterbegin:#my-keys"' in minted.text and f'id="key-{key.pk}"' in minted.text
    )

    again = dev_client.get("/me/")
    assert raw not in again.text and key.prefix in again.text
    event = AuditEvent.objects.get(action="key.mint", target_id=str(key.pk))
    assert event.actor_id == dev_a.pk and raw not in str(event.changes)


def test_minting_without_htmx_renders_the_key_in_the_page(dev_client):
    response = dev_client.post("/me/keys/", {"name": "ci"})
    assert response.status_code == 200
    assert response.context["minted"]["raw"] in response.text
    assert "<html" in response.text


def test_a_nameless_key_is_refused_with_the_reason(dev_client, dev_a):
    response = dev_client.post("/me/keys/", {"name": ""}, headers=HTMX)
    assert response.status_code == 200 and "This field is required." in response.text
    assert not ApiKey.objects.filter(owner=dev_a).exists()


def test_revoking_own_key_but_never_someone_elses(dev_client, dev_a, dev_b, operator):
    own, _ = mint_key(actor=dev_a, owner=dev_a, name="mine")
    other, _ = mint_key(actor=operator, owner=dev_b, name="theirs")
    revoked = dev_client.post(f"/me/keys/{own.pk}/revoke/", headers=HTMX)
    assert revoked.status_code == 200 and "revoked" in revoked.text
    assert "<html" not in revoked.text  # just the row
    own.refresh_from_db()
    assert own.revoked_at is not None
    assert dev_client.post(f"/me/keys/{other.pk}/revoke/", headers=HTMX).status_code == 404
    other.refresh_from_db()
    assert other.revoked_at is None


def test_usage_today_and_month_with_budget_and_grants(dev_client, dev_a, operator):
    soon = timezone.now() + timedelta(days=3)
    create_grant(
        actor=operator, user=dev_a, amount_usd=Decimal("5"), expires_at=soon, reason="launch"
    )
    _spend(dev_a, "12", n=1)  # $10 daily budget, then $2 of the grant
    _spend(dev_a, "0", n=2, decision="denied", reason="model_not_allowed")
    page = dev_client.get("/me/")
    usage, budget = page.context["usage"], page.context["budget"]
    assert usage.today.spend_usd == Decimal("12") and usage.today.requests == 2
    assert usage.today.refused == 1
    assert budget.daily_remaining == 0 and budget.grants[0].remaining == Decimal("3")
    assert budget.total_remaining == Decimal("3")
    text = page.text
    assert "$12.00" in text and "$3.00" in text and "launch" in text
    assert soon.strftime("%Y-%m-%d") in text


def test_usage_fragment_refreshes_without_the_page(dev_client, dev_a):
    _spend(dev_a, "0.000125", n=1)
    fragment = dev_client.get("/me/", headers={**HTMX, "HX-Target": "my-usage"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "$0.000125" in fragment.text


def test_someone_elses_usage_is_not_shown(dev_client, dev_b):
    _spend(dev_b, "7", n=1)
    assert dev_client.get("/me/").context["usage"].today.requests == 0


def test_posts_without_csrf_token_are_refused(dev_a):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(dev_a)
    assert browser.post("/me/keys/", {"name": "x"}).status_code == 403
    assert not ApiKey.objects.filter(owner=dev_a).exists()
