"""The recorder's bulk path (`append_batch`, one COPY on PostgreSQL) stores what it was
given and keeps one chain with `append_events`, also when processes write at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from test_audit_chain_concurrency import (
    ROOT,
    assert_one_chain,
    migrated_sqlite_env,
    postgres_url,
    verify_in_subprocess,
)

from audit.models import AuditEvent
from audit.services import append_batch, append_events, record_event, verify_chain


def _llm(n: int, **fields) -> dict:
    return {
        "kind": "llm_request",
        "action": "chat.completions",
        "request_id": f"req-{n}",
        "created_at": "2026-11-25T23:00:00.123456+00:00",
        "cost_usd": "0.000123",
        "latency_ms": 1.2345,
        "data": {"endpoint": "chat.completions", "n": n},
        **fields,
    }


@pytest.mark.django_db
def test_batches_and_single_events_share_one_verified_chain():
    record_event(kind="admin_action", action="tenant.create", target_type="tenant")
    append_batch([_llm(1), _llm(2, tenant_id=7, tenant_slug="acme", prompt_tokens=12)])
    append_events([_llm(3)])
    append_batch([_llm(4)])

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.request_id for e in events[1:]] == ["req-1", "req-2", "req-3", "req-4"]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    report = verify_chain()
    assert report.ok and report.events == 5, report


@pytest.mark.django_db
def test_a_batched_event_is_stored_as_given_with_defaults_filled_in():
    append_batch(
        [
            _llm(
                1,
                created_at="2026-11-26T01:00:00.5+02:00",  # another offset: the same instant
                cost_usd="0.1234567",  # money keeps six decimals, as the column does
                tenant_id=None,
            )
        ]
    )
    event = AuditEvent.objects.get()
    assert event.created_at == datetime(2026, 11, 25, 23, 0, 0, 500000, tzinfo=UTC)
    assert event.cost_usd == Decimal("0.123457")
    assert (event.latency_ms, event.tenant_id, event.target_type) == (1.2345, None, "")
    assert (event.changes, event.data) == ({}, {"endpoint": "chat.completions", "n": 1})
    assert verify_chain().ok


@pytest.mark.django_db
def test_an_unknown_field_is_refused_and_nothing_is_written():
    with pytest.raises(TypeError, match="no_such_field"):
        append_batch([_llm(1), _llm(2, no_such_field=1)])
    assert not AuditEvent.objects.exists()


# Even writers append in batches (as gateway recorders do), odd ones one event at a time.
WRITER = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from audit.services import append_batch, record_event
    writer, count = int(sys.argv[1]), int(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
    if writer % 2:
        for n in range(count):
            record_event(kind="llm_request", action="chat", data={"writer": writer, "n": n})
    else:
        for start in range(0, count, 25):
            append_batch([
                {"kind": "llm_request", "action": "chat", "data": {"writer": writer, "n": n}}
                for n in range(start, min(start + 25, count))
            ])
    print("done", flush=True)
    """
)


def _run_writers(env: dict[str, str], writers: int, count: int) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(w), str(count)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=90)
            assert proc.returncode == 0 and out.strip() == "done"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.django_db(transaction=True)
def test_batch_and_single_writers_in_parallel_keep_one_chain_on_postgresql():
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url(),
        "DJANGO_SETTINGS_MODULE": "candela.settings",
    }
    writers, count = 4, 150
    _run_writers(env, writers, count)

    rows = list(AuditEvent.objects.order_by("id").values_list("prev_hash", "data"))
    assert len(rows) == writers * count
    assert_one_chain([r[0] for r in rows], [r[1] for r in rows], writers, count)
    report = verify_chain()
    assert report.ok and report.events == writers * count, report


@pytest.mark.sqlite
def test_batch_and_single_writers_in_parallel_keep_one_chain_on_sqlite(tmp_path):
    env = migrated_sqlite_env(tmp_path)
    writers, count = 2, 50
    _run_writers(env, writers, count)
    result = verify_in_subprocess(env)
    assert result["ok"] and result["events"] == writers * count, result
    assert_one_chain(result["prev_hashes"], result["data"], writers, count)


@pytest.mark.django_db
def test_a_record_the_database_refuses_fails_its_batch_with_a_django_error():
    # The recorder tells refused data (set the record aside) from a database that is down
    # (spool the batch) by Django's exception types, also for rows written with COPY.
    from django.db import DataError

    from gateway.ledger import write_records

    def record(n: int, model: str) -> dict:
        usage = {
            "request_id": f"req-{n}",
            "created_at": "2026-11-25T23:00:00.123456+00:00",
            "model": model,
            "decision": "allowed",
            "cost_usd": "0.000100",
        }
        return {"event": _llm(n, model=model), "usage": usage}

    with pytest.raises(DataError):
        write_records([record(1, "gpt-4o-mini"), record(2, "bad\x00model")])
    assert not AuditEvent.objects.exists()
    write_records([record(1, "gpt-4o-mini")])
    assert AuditEvent.objects.get().model == "gpt-4o-mini"
    assert verify_chain().ok
