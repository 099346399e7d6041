"""`candela audit verify`: recomputes the hash chain and names the first bad event."""

from __future__ import annotations

import pytest
from django.db import connection
from test_cli_support import run_cli, server_env

from audit.chain import HASHED_FIELDS, event_hash
from audit.models import AuditEvent
from governance.services.tenants import create_tenant, update_tenant
from governance.services.users import create_user
from tenants.constants import Role

pytestmark = pytest.mark.django_db(transaction=True)


def _verify(home):
    return run_cli("candela", "audit", "verify", env=server_env(home))


def _tamper(event_id: int, **values) -> None:
    """What an attacker with database access does: bypass the append-only triggers."""
    assignments = ", ".join(f"{name} = %s" for name in values)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(
                f"UPDATE audit_auditevent SET {assignments} WHERE id = %s",
                [*values.values(), event_id],
            )
        finally:
            cursor.execute("SET session_replication_role = origin")


@pytest.fixture
def trail():
    operator = create_user(
        actor=None, email="op@platform.test", tenant=None, role=Role.OPERATOR, username="op"
    )
    tenant = create_tenant(actor=operator, name="Acme", slug="acme")
    update_tenant(actor=operator, tenant=tenant, daily_cap_usd="100")
    create_user(actor=operator, email="dev@acme.test", tenant=tenant)
    return list(AuditEvent.objects.order_by("id"))


def test_intact_chain_is_reported_ok(trail, tmp_path):
    done = _verify(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ok: {len(trail)} events"


def test_empty_trail_is_ok(tmp_path):
    done = _verify(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok: 0 events"


def test_edited_event_is_named(trail, tmp_path):
    edited = trail[1]
    _tamper(edited.id, target_repr="nothing to see")
    done = _verify(tmp_path)
    assert done.returncode == 1
    assert f"event {edited.id}" in done.stdout
    assert "content does not match its hash" in done.stdout
    assert "Traceback" not in done.stderr


def test_resealed_event_breaks_the_link_to_the_next(trail, tmp_path):
    """An edit sealed with a freshly computed hash still leaves the next event pointing back."""
    edited, following = trail[1], trail[2]
    fields = {name: getattr(edited, name) for name in HASHED_FIELDS}
    fields["target_repr"] = "nothing to see"
    _tamper(
        edited.id,
        target_repr="nothing to see",
        hash=event_hash(edited.prev_hash, fields),
    )
    done = _verify(tmp_path)
    assert done.returncode == 1
    assert f"event {following.id}" in done.stdout
    assert "previous hash does not match" in done.stdout
