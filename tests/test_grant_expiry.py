"""Expired grants are closed once, with a policy event and a policy version bump."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import verify_chain
from governance.models import Grant
from governance.policy_bus import POLICY_VERSION_KEY
from governance.services.grants import create_grant
from governance.tasks import expire_grants

pytestmark = pytest.mark.django_db


def test_expired_grant_is_closed_once_and_gateways_are_told(
    redis_client, operator, dev_a, django_capture_on_commit_callbacks
):
    now = timezone.now()
    old = create_grant(
        actor=operator, user=dev_a, amount_usd=Decimal("5"), expires_at=now + timedelta(hours=1)
    )
    live = create_grant(
        actor=operator, user=dev_a, amount_usd=Decimal("3"), expires_at=now + timedelta(days=3)
    )
    Grant.objects.filter(pk=old.pk).update(expires_at=now - timedelta(minutes=1))
    version_before = int(redis_client.get(POLICY_VERSION_KEY) or 0)

    with django_capture_on_commit_callbacks(execute=True):
        assert expire_grants() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_grants() == 0  # once

    old.refresh_from_db()
    live.refresh_from_db()
    assert old.remaining_usd == Decimal("0")
    assert live.remaining_usd == Decimal("3")
    (event,) = AuditEvent.objects.filter(action="grant.expired")
    assert event.kind == "policy_decision"
    assert (event.tenant_id, event.target_type, event.target_id) == (
        dev_a.tenant_id,
        "governance.grant",
        str(old.pk),
    )
    assert event.changes == {"remaining_usd": {"before": "5", "after": "0"}}
    assert event.data["user_id"] == dev_a.pk
    assert int(redis_client.get(POLICY_VERSION_KEY)) > version_before
    assert Grant.objects.active_for(dev_a).get() == live
    assert verify_chain().ok
