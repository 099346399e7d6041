"""Deleting a user, a key or a whole tenant leaves every event about them intact."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from audit.services import record_event, verify_chain
from governance.models import ApiKey
from governance.services.admin_saves import delete_from_admin
from governance.services.keys import mint_key, revoke_key
from governance.services.users import delete_user
from tenants.models import Tenant, User

pytestmark = pytest.mark.django_db

FIELDS = [f.name for f in AuditEvent._meta.fields]


def _snapshot() -> list[dict]:
    return list(AuditEvent.objects.order_by("id").values(*FIELDS))


def _traffic(dev, key) -> AuditEvent:
    return record_event(
        kind="llm_request",
        action="chat.completions",
        decision="allowed",
        actor=dev,
        tenant=dev.tenant,
        key_prefix=key.prefix,
        model="gpt-4o-mini",
        provider="openai",
        prompt_tokens=12,
        completion_tokens=30,
        cost_usd="0.000020",
    )


def test_user_key_and_tenant_deletion_keep_their_events(operator, tenant_a, admin_a, dev_a):
    key, _ = mint_key(actor=admin_a, owner=dev_a, name="laptop")
    request = _traffic(dev_a, key)
    revoke_key(actor=admin_a, key=key)
    before = _snapshot()
    dev_id, admin_id, tenant_id, key_id = dev_a.pk, admin_a.pk, tenant_a.pk, key.pk

    delete_from_admin(actor=operator, obj=ApiKey.objects.get(pk=key.pk))
    delete_user(actor=operator, user=dev_a)
    delete_user(actor=operator, user=admin_a)
    delete_from_admin(actor=operator, obj=Tenant.objects.get(pk=tenant_a.pk))

    assert not User.objects.filter(pk__in=[dev_id, admin_id]).exists()
    assert not Tenant.objects.filter(pk=tenant_id).exists()
    after = _snapshot()
    assert after[: len(before)] == before  # nothing earlier changed or vanished
    kept = AuditEvent.objects.get(pk=request.pk)
    assert (kept.actor_id, kept.actor_name) == (dev_id, "dev@acme.test")
    assert (kept.tenant_id, kept.tenant_slug, kept.key_prefix) == (tenant_id, "acme", key.prefix)
    assert AuditEvent.objects.filter(action="key.mint", target_id=str(key_id)).exists()

    deletions = list(
        AuditEvent.objects.filter(action__endswith=".delete").values_list("action", "target_repr")
    )
    assert deletions == [
        ("apikey.delete", str(key)),
        ("user.delete", "dev@acme.test"),
        ("user.delete", "admin@acme.test"),
        ("tenant.delete", "acme"),
    ]
    # The tenant's own deletion event is still scoped to it, for exports of its history.
    assert AuditEvent.objects.for_tenant(tenant_id).filter(action="tenant.delete").exists()
    report = verify_chain()
    assert report.ok, report
    assert report.events == len(after)
