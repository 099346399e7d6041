"""Usage figures per role over the API: narrowed to one user (never another tenant's), and
refusals counted as the gateway records them ("denied"), upstream failures not."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import UsageRecord

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def ledger(dev_a, admin_a, dev_b):
    rows = [
        (dev_a, "1.25", "allowed", ""),
        (dev_a, "0", "denied", "budget_exceeded"),
        (dev_a, "0", "error", "upstream_timeout"),
        (admin_a, "2", "allowed", ""),
        (dev_b, "7", "allowed", ""),
    ]
    for n, (user, cost, decision, reason) in enumerate(rows):
        UsageRecord.objects.create(
            request_id=f"u-{n}",
            created_at=timezone.now(),
            tenant_id=user.tenant_id,
            user_id=user.pk,
            model="gpt-4o-mini",
            decision=decision,
            reason=reason,
            cost_usd=Decimal(cost),
        )


def test_admin_narrows_usage_to_one_of_their_users(http_as, ledger, admin_a, dev_a):
    body = http_as(admin_a).get("/usage", group_by="model", user=dev_a.pk).json()
    assert body["total"]["spend_usd"] == "1.25"
    assert body["total"]["requests"] == 3 and body["total"]["refused"] == 1


def test_another_tenants_user_is_404(http_as, ledger, admin_a, dev_b):
    response = http_as(admin_a).get("/usage", user=dev_b.pk)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_operator_reads_any_users_usage(http_as, ledger, operator, dev_b):
    body = http_as(operator).get("/usage", group_by="tenant", user=dev_b.pk).json()
    assert [row["key"] for row in body["items"]] == ["globex"]
    assert body["total"]["spend_usd"] == "7.00"


def test_developers_read_their_own_usage_only_through_me(http_as, ledger, dev_a):
    api = http_as(dev_a)
    assert api.get("/usage", user=dev_a.pk).status_code == 403
    mine = api.get("/me/usage").json()
    assert mine["total"]["requests"] == 3 and mine["total"]["refused"] == 1
