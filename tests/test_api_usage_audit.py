"""Usage aggregated from the ledger, and the audit trail: list, export, verify."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import UsageRecord

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def _usage(user, model, cost, *, prompt=100, completion=50, decision="allowed", at=None):
    return UsageRecord.objects.create(
        request_id=f"req-{UsageRecord.objects.count()}",
        created_at=at or timezone.now(),
        tenant_id=user.tenant_id,
        user_id=user.pk,
        model=model,
        decision=decision,
        prompt_tokens=prompt if decision == "allowed" else 0,
        completion_tokens=completion if decision == "allowed" else 0,
        cost_usd=Decimal(cost) if decision == "allowed" else Decimal("0"),
    )


@pytest.fixture
def ledger(dev_a, admin_a, dev_b):
    _usage(dev_a, "gpt-4o-mini", "0.25")
    _usage(dev_a, "gpt-4o-mini", "0.000125", prompt=10, completion=5)
    _usage(dev_a, "claude-haiku-4-5", "1.10")
    _usage(dev_a, "gpt-4o-mini", "0", decision="denied")
    _usage(admin_a, "claude-haiku-4-5", "2")
    _usage(dev_b, "gpt-4o-mini", "4")
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if timezone.now().day > 1:
        # Earlier this month, but not today: counted by period=month only.
        _usage(dev_a, "gpt-4o-mini", "10", at=month_start + timedelta(minutes=30))
    _usage(dev_a, "gpt-4o-mini", "99", at=month_start - timedelta(days=1))  # last month


def test_usage_by_tenant_today(http_as, operator, ledger):
    body = http_as(operator).get("/usage", group_by="tenant", period="day").json()
    assert body["group_by"] == "tenant" and body["period"] == "day"
    assert body["since"].endswith("T00:00:00Z")
    rows = {row["key"]: row for row in body["items"]}
    assert rows["acme"] == {
        "key": "acme",
        "id": rows["acme"]["id"],
        "spend_usd": "3.350125",
        "prompt_tokens": 310,
        "completion_tokens": 155,
        "requests": 5,
        "refused": 1,
    }
    assert rows["globex"]["spend_usd"] == "4.00"
    assert [row["key"] for row in body["items"]] == ["globex", "acme"]  # biggest spender first
    assert body["total"]["spend_usd"] == "7.350125" and body["total"]["requests"] == 6


def test_usage_by_user_and_by_model(http_as, admin_a, ledger):
    api = http_as(admin_a)
    by_user = {row["key"]: row for row in api.get("/usage", group_by="user").json()["items"]}
    assert set(by_user) == {"dev@acme.test", "admin@acme.test"}
    assert by_user["dev@acme.test"]["spend_usd"] == "1.350125"
    assert by_user["dev@acme.test"]["refused"] == 1
    by_model = {row["key"]: row for row in api.get("/usage", group_by="model").json()["items"]}
    assert by_model["gpt-4o-mini"]["spend_usd"] == "0.250125"  # globex's $4 is not acme's
    assert by_model["gpt-4o-mini"]["requests"] == 3
    assert by_model["claude-haiku-4-5"]["spend_usd"] == "3.10"


def test_usage_by_day_over_the_month(http_as, admin_a, ledger):
    body = http_as(admin_a).get("/usage", group_by="day", period="month").json()
    today = timezone.now().date().isoformat()
    days = {row["key"]: row for row in body["items"]}
    assert days[today]["spend_usd"] == "3.350125"
    earlier = {key: row["spend_usd"] for key, row in days.items() if key != today}
    first = body["since"][:10]
    assert earlier == ({first: "10.00"} if first != today else {})  # not last month's $99
    assert [row["key"] for row in body["items"]] == sorted(days)


def test_bad_usage_parameters_are_422(http_as, operator):
    api = http_as(operator)
    assert api.get("/usage", group_by="planet").status_code == 422
    assert api.get("/usage", period="decade").status_code == 422


def test_me_usage_is_the_callers_own(http_as, dev_a, ledger):
    body = http_as(dev_a).get("/me/usage", group_by="model").json()
    rows = {row["key"]: row for row in body["items"]}
    assert rows["claude-haiku-4-5"]["spend_usd"] == "1.10"  # not the admin's $2
    assert body["total"]["requests"] == 4 and body["total"]["refused"] == 1


# --- Audit --------------------------------------------------------------------------------


def test_audit_list_is_newest_first_filtered_and_limited(http_as, operator, dev_a, dev_b):
    api = http_as(operator)
    api.patch(f"/users/{dev_a.pk}", {"rate_limit_rpm": 9})
    body = api.get("/audit", limit=2).json()
    assert len(body["items"]) == 2 and body["count"] == AuditEvent.objects.count()
    ids = [event["id"] for event in body["items"]]
    assert ids == sorted(ids, reverse=True)
    assert body["items"][0]["action"] == "user.update"
    assert body["items"][0]["changes"]["rate_limit_rpm"] == {"before": None, "after": 9}

    auth_only = api.get("/audit", kind="auth").json()["items"]
    assert auth_only and {event["kind"] for event in auth_only} == {"auth"}
    later = api.get("/audit", since=(timezone.now() + timedelta(minutes=1)).isoformat())
    assert later.json()["count"] == 0
    blank = api.http.get("/audit?kind=&since=&limit=5")  # as an HTML form sends it
    assert blank.status_code == 200 and len(blank.json()["items"]) == 5
    assert api.get("/audit", kind="gossip").status_code == 422
    assert api.get("/audit", limit=1001).status_code == 422
    assert len(api.get("/audit", limit=1000).json()["items"]) == AuditEvent.objects.count()


def test_audit_list_is_tenant_scoped(http_as, admin_a, admin_b, dev_a, dev_b):
    events = http_as(admin_a).get("/audit", limit=1000).json()["items"]
    assert {event["tenant_slug"] for event in events} == {"acme"}
    assert "dev@globex.test" not in json.dumps(events)


def _export(api, fmt):
    response = api.get("/audit/export", format=fmt)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["content-disposition"].endswith(f'.{fmt}"')
    return response


def test_export_jsonl_has_one_event_per_line_oldest_first(http_as, operator, dev_a, dev_b):
    response = _export(http_as(operator), "jsonl")
    assert response.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [row["id"] for row in rows] == list(
        AuditEvent.objects.order_by("id").values_list("id", flat=True)
    )
    assert {"hash", "prev_hash", "changes", "actor_name"} <= set(rows[0])
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert datetime.fromisoformat(rows[0]["created_at"]).tzinfo == UTC


def test_export_csv_is_tenant_scoped_and_formula_safe(http_as, admin_a, dev_a, dev_b):
    api = http_as(admin_a)
    api.post("/keys", {"name": '=HYPERLINK("http://evil")', "user": dev_a.pk})
    response = _export(api, "csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = AuditEvent.objects.filter(tenant_id=dev_a.tenant_id).count()
    assert len(rows) == expected > 0
    assert {row["tenant_slug"] for row in rows} == {"acme"}
    minted = next(row for row in rows if row["action"] == "key.mint")
    assert minted["target_repr"].startswith("'=HYPERLINK")
    assert json.loads(minted["changes"])["name"]["after"] == '=HYPERLINK("http://evil")'


def test_verify_reports_an_intact_chain(http_as, operator, dev_a):
    body = http_as(operator).get("/audit/verify").json()
    assert body == {
        "ok": True,
        "events": AuditEvent.objects.count(),
        "first_bad": None,
        "problem": "",
    }


def test_verify_names_a_forged_event(http_as, operator, dev_a):
    last = AuditEvent.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        # The trail is append-only (UPDATE/DELETE refused), so forge by inserting a row
        # that claims to follow the last event but whose hash does not match its content.
        cursor.execute(
            """
            INSERT INTO audit_auditevent (created_at, kind, action, decision, reason, request_id,
                tenant_slug, actor_name, ip, key_prefix, model, provider, prompt_tokens,
                completion_tokens, cost_usd, latency_ms, target_type, target_id, target_repr,
                changes, data, prev_hash, hash)
            VALUES (now(), 'admin_action', 'key.revoke', '', '', 'forged', '', 'mallory', '',
                '', '', '', 0, 0, 0, 0, '', '', '', '{}', '{}', %s, %s)
            RETURNING id
            """,
            [last.hash, "f" * 64],
        )
        forged_id = cursor.fetchone()[0]
    api = http_as(operator)
    api.post("/keys", {"name": "after the forgery", "user": dev_a.pk})  # chains onto it
    body = api.get("/audit/verify").json()
    assert body["ok"] is False
    assert body["first_bad"] == forged_id
    assert body["events"] == AuditEvent.objects.filter(id__lte=forged_id).count()
    assert "hash" in body["problem"]
