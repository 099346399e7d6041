"""Tampering with the audit table is refused by triggers or detected by verify_chain."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_event, verify_chain

ROOT = Path(__file__).resolve().parent.parent


def _events(n: int) -> list[AuditEvent]:
    return [
        record_event(
            kind="llm_request", action="chat", model="gpt-4o", cost_usd="0.25", data={"n": i}
        )
        for i in range(n)
    ]


def _raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _insert_raw(prev_hash: str, digest: str, **overrides) -> int:
    """INSERT a row by raw SQL, as someone bypassing append_events would."""
    row = {
        "created_at": timezone.now(),
        "kind": "llm_request",
        "action": "chat",
        "decision": "allowed",
        "reason": "",
        "request_id": "forged",
        "tenant_id": None,
        "tenant_slug": "",
        "actor_id": None,
        "actor_name": "",
        "ip": "",
        "key_prefix": "",
        "model": "gpt-4o",
        "provider": "openai",
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cost_usd": "0",
        "latency_ms": 1.0,
        "target_type": "",
        "target_id": "",
        "target_repr": "",
        "changes": "{}",
        "data": "{}",
        "prev_hash": prev_hash,
        "hash": digest,
        **overrides,
    }
    columns = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO audit_auditevent ({columns}) VALUES ({marks}) RETURNING id",
            list(row.values()),
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
class TestPostgres:
    def test_update_by_raw_sql_is_refused(self):
        event = _events(2)[0]
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw("UPDATE audit_auditevent SET cost_usd = 0 WHERE id = %s", [event.pk])
        event.refresh_from_db()
        assert str(event.cost_usd) == "0.250000"

    def test_update_through_the_orm_is_refused(self):
        _events(1)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.update(actor_name="someone else")
        assert not AuditEvent.objects.filter(actor_name="someone else").exists()

    def test_delete_and_truncate_are_refused(self):
        events = _events(3)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.all().delete()
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw("TRUNCATE audit_auditevent")
        assert AuditEvent.objects.count() == 3
        assert verify_chain().ok

    def test_forged_row_inserted_by_raw_sql_is_named(self):
        events = _events(3)
        forged = _insert_raw(events[-1].hash, hashlib.sha256(b"made up").hexdigest())
        # Honest writers keep appending after the forgery; the report still names it.
        _events(2)
        report = verify_chain()
        assert not report.ok
        assert report.first_bad == forged
        assert report.problem == "content does not match its hash"

    def test_forged_row_that_reuses_a_predecessor_is_named(self):
        events = _events(3)
        # A row claiming the first event as its predecessor (a fork of the chain).
        forged = _insert_raw(events[0].hash, hashlib.sha256(b"fork").hexdigest())
        report = verify_chain()
        assert (report.ok, report.first_bad) == (False, forged)
        assert report.problem == "previous hash does not match"

    def test_edit_with_triggers_disabled_is_detected(self):
        # A database superuser can switch triggers off; the hash chain still gives it away.
        events = _events(4)
        _raw("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        _raw("UPDATE audit_auditevent SET cost_usd = 0 WHERE id = %s", [events[2].pk])
        _raw("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
        report = verify_chain()
        assert (report.ok, report.first_bad) == (False, events[2].pk)
        assert report.events == 3

    def test_deleting_a_middle_row_with_triggers_disabled_is_detected(self):
        events = _events(4)
        _raw("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        _raw("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
        _raw("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
        report = verify_chain()
        assert (report.ok, report.first_bad) == (False, events[2].pk)
        assert report.problem == "previous hash does not match"


SQLITE_TAMPER = textwrap.dedent(
    """
    import hashlib, json
    import django
    django.setup()
    from django.db import DatabaseError, connection, transaction
    from audit.models import AuditEvent
    from audit.services import record_event, verify_chain

    events = [record_event(kind="llm_request", action="chat", cost_usd="0.25") for _ in range(3)]
    refused = {}
    for name, sql in {
        "update": "UPDATE audit_auditevent SET cost_usd = 0 WHERE id = %s",
        "delete": "DELETE FROM audit_auditevent WHERE id = %s",
    }.items():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [events[1].pk])
            refused[name] = ""
        except DatabaseError as exc:
            refused[name] = str(exc)
    before = verify_chain()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (created_at, kind, action, decision, reason, request_id,"
            " tenant_slug, actor_name, ip, key_prefix, model, provider, prompt_tokens,"
            " completion_tokens, cost_usd, latency_ms, target_type, target_id, target_repr,"
            " changes, data, prev_hash, hash) VALUES ('2026-01-01 00:00:00', 'auth', 'login',"
            " '', '', '', '', 'mallory', '', '', '', '', 0, 0, '0', 0, '', '', '', '{}', '{}', %s, %s)",
            [events[-1].hash, hashlib.sha256(b"forged").hexdigest()],
        )
        forged = cursor.lastrowid
    after = verify_chain()
    print(json.dumps({
        "refused": refused,
        "count": AuditEvent.objects.count(),
        "cost": str(AuditEvent.objects.get(pk=events[1].pk).cost_usd),
        "before": [before.ok, before.events],
        "after": [after.ok, after.first_bad],
        "forged": forged,
    }))
    """
)


@pytest.mark.sqlite
def test_sqlite_refuses_update_and_delete_and_detects_forgery(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'candela.sqlite3'}",
        CANDELA_HOME=str(tmp_path / "home"),
        DJANGO_SETTINGS_MODULE="candela.settings",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    out = subprocess.run(
        [sys.executable, "-c", SQLITE_TAMPER],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert "append-only (UPDATE refused)" in result["refused"]["update"]
    assert "append-only (DELETE refused)" in result["refused"]["delete"]
    assert result["cost"] == "0.250000"
    assert result["before"] == [True, 3]
    assert result["after"] == [False, result["forged"]]
    assert result["count"] == 4
