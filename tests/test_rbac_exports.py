"""Audit exports per role, over a real socket: a tenant admin's download (token or browser
session) holds their tenant's events only; developers get none; operators get everything."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.conf import settings
from django.test import Client

from audit.services import append_events

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def trail(tenant_a, tenant_b, admin_a, dev_a, admin_b, dev_b):
    append_events(
        [
            {"kind": "llm_request", "action": "chat", "tenant_id": t.pk, "tenant_slug": t.slug,
             "model": "gpt-4o-mini", "decision": "allowed", "request_id": f"{t.slug}-req"}
            for t in (tenant_a, tenant_b)
        ]
    )  # fmt: skip


def _jsonl(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_tenant_admin_exports_only_their_tenant(http_as, trail, admin_a):
    api = http_as(admin_a)
    rows = _jsonl(api.get("/audit/export", format="jsonl"))
    assert rows and {row["tenant_slug"] for row in rows} == {"acme"}
    assert "acme-req" in {row["request_id"] for row in rows}
    csv_rows = _csv(api.get("/audit/export", format="csv"))
    assert csv_rows and {row["tenant_slug"] for row in csv_rows} == {"acme"}
    assert "globex" not in api.get("/audit/export", format="csv").text


def test_tenant_admin_asking_for_another_tenant_gets_404(http_as, trail, admin_a):
    response = http_as(admin_a).get("/audit/export", tenant="globex")
    assert response.status_code == 404 and "globex-req" not in response.text


def test_developers_get_no_export(http_as, trail, dev_a):
    response = http_as(dev_a).get("/audit/export")
    assert response.status_code == 403 and "acme-req" not in response.text


def test_operator_exports_every_tenant_or_one(http_as, trail, operator):
    api = http_as(operator)
    assert {"acme", "globex"} <= {row["tenant_slug"] for row in _jsonl(api.get("/audit/export"))}
    only_b = _jsonl(api.get("/audit/export", tenant="globex"))
    assert {row["tenant_slug"] for row in only_b} == {"globex"}


def test_browser_session_download_is_scoped_too(live_api, trail, admin_a):
    import httpx

    browser = Client()
    browser.force_login(admin_a)
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    with httpx.Client(base_url=live_api, cookies={settings.SESSION_COOKIE_NAME: cookie}) as http:
        response = http.get("/api/v1/audit/export", params={"format": "jsonl"})
    assert response.headers["content-disposition"].startswith("attachment;")
    assert {row["tenant_slug"] for row in _jsonl(response)} == {"acme"}


def test_anonymous_downloads_are_refused(live_api, trail):
    import httpx

    response = httpx.get(f"{live_api}/api/v1/audit/export")
    assert response.status_code == 401 and "acme-req" not in response.text


def test_admin_audit_changelist_is_scoped(client, trail, admin_a):
    client.force_login(admin_a)
    events = list(client.get("/admin/audit/auditevent/").context["cl"].result_list)
    assert events and {event.tenant_slug for event in events} == {"acme"}
