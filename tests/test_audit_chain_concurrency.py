"""Many OS processes appending at once keep one unbroken chain (PostgreSQL and SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from audit.models import AuditEvent
from audit.services import verify_chain

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 4
EVENTS_EACH = 200

# Each writer: set Django up, say "ready", wait for "go" on stdin, then append its events
# one transaction at a time, as gateway processes and admin requests do.
WRITER = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from audit.services import record_event
    writer, count = int(sys.argv[1]), int(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
    for n in range(count):
        record_event(kind="llm_request", action="chat", data={"writer": writer, "n": n})
    print("done", flush=True)
    """
)

VERIFY = textwrap.dedent(
    """
    import json
    import django
    django.setup()
    from audit.models import AuditEvent
    from audit.services import verify_chain
    report = verify_chain()
    rows = list(AuditEvent.objects.order_by("id").values_list("prev_hash", "data"))
    print(json.dumps({"ok": report.ok, "events": report.events, "first_bad": report.first_bad,
                      "prev_hashes": [r[0] for r in rows], "data": [r[1] for r in rows]}))
    """
)


def postgres_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def run_writers(env: dict[str, str], writers: int, count: int) -> None:
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
        for proc in procs:  # all set up before any starts: maximum overlap
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=90)
            assert proc.returncode == 0
            assert out.strip() == "done"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def assert_one_chain(prev_hashes: list[str], data: list[dict], writers: int, count: int) -> None:
    assert len(prev_hashes) == len(set(prev_hashes)), "two events share a predecessor: a fork"
    for writer in range(writers):
        mine = [d["n"] for d in data if d.get("writer") == writer]
        assert mine == list(range(count)), f"writer {writer} lost or reordered events"


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_on_postgresql_keep_one_chain():
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url(),
        "DJANGO_SETTINGS_MODULE": "candela.settings",
    }
    run_writers(env, WRITERS, EVENTS_EACH)

    assert AuditEvent.objects.count() == WRITERS * EVENTS_EACH
    rows = list(AuditEvent.objects.order_by("id").values_list("prev_hash", "data"))
    assert_one_chain([r[0] for r in rows], [r[1] for r in rows], WRITERS, EVENTS_EACH)
    report = verify_chain()
    assert report.ok, report
    assert report.events == WRITERS * EVENTS_EACH


def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'candela.sqlite3'}",
        CANDELA_HOME=str(tmp_path / "home"),
        DJANGO_SETTINGS_MODULE="candela.settings",
    )
    return env


def migrated_sqlite_env(tmp_path: Path) -> dict[str, str]:
    """An embedded (SQLite) environment whose database is migrated."""
    env = embedded_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    return env


def verify_in_subprocess(env: dict[str, str]) -> dict:
    """Run VERIFY in a fresh process on `env`'s database; its JSON report."""
    out = subprocess.run(
        [sys.executable, "-c", VERIFY],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.sqlite
def test_parallel_writers_on_sqlite_keep_one_chain(tmp_path):
    env = migrated_sqlite_env(tmp_path)
    writers, count = 3, 50
    run_writers(env, writers, count)

    result = verify_in_subprocess(env)
    assert result["ok"], result
    assert result["events"] == writers * count
    assert_one_chain(result["prev_hashes"], result["data"], writers, count)
