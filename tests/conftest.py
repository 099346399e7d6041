"""Shared fixtures: personas in two tenants, API clients, clean Redis."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis as redis_lib
from django.conf import settings

from governance.services.tenants import create_tenant
from governance.services.users import create_user, issue_management_token
from tenants.constants import Role


@pytest.fixture(scope="session", autouse=True)
def _audit_table_flushable():
    """Let transactional tests end with Django's flush (one TRUNCATE of every table).

    The audit table's trigger refuses TRUNCATE, as it must in production; only inside
    the flush statement list is that trigger switched off (PostgreSQL DDL is transactional).
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    trigger = "candela_audit_no_truncate"

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        if "audit_auditevent" not in tables:
            return statements
        return [
            f"ALTER TABLE audit_auditevent DISABLE TRIGGER {trigger}",
            *statements,
            f"ALTER TABLE audit_auditevent ENABLE TRIGGER {trigger}",
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture
def redis_client():
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def operator(db):
    return create_user(
        actor=None, email="op@platform.test", tenant=None, role=Role.OPERATOR, username="op"
    )


@pytest.fixture
def tenant_a(db, operator):
    return create_tenant(actor=operator, name="Acme", slug="acme")


@pytest.fixture
def tenant_b(db, operator):
    return create_tenant(actor=operator, name="Globex", slug="globex")


@pytest.fixture
def admin_a(tenant_a, operator):
    return create_user(actor=operator, email="admin@acme.test", tenant=tenant_a, role=Role.ADMIN)


@pytest.fixture
def dev_a(tenant_a, operator):
    return create_user(
        actor=operator,
        email="dev@acme.test",
        tenant=tenant_a,
        role=Role.DEVELOPER,
        daily_budget_usd=Decimal("10"),
    )


@pytest.fixture
def admin_b(tenant_b, operator):
    return create_user(actor=operator, email="admin@globex.test", tenant=tenant_b, role=Role.ADMIN)


@pytest.fixture
def dev_b(tenant_b, operator):
    return create_user(
        actor=operator, email="dev@globex.test", tenant=tenant_b, role=Role.DEVELOPER
    )


def token_for(user) -> str:
    _, raw = issue_management_token(actor=user, user=user)
    return raw


class ApiClient:
    """Django test client speaking JSON to /api/v1 with a bearer token."""

    def __init__(self, client, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, json=None):
        kwargs = {"headers": self.headers}
        if json is not None:
            kwargs.update(data=json, content_type="application/json")
        return getattr(self.client, method)(f"/api/v1{path}", **kwargs)

    def get(self, path):
        return self._call("get", path)

    def post(self, path, json=None):
        return self._call("post", path, json if json is not None else {})

    def patch(self, path, json):
        return self._call("patch", path, json)

    def delete(self, path):
        return self._call("delete", path)


@pytest.fixture
def api_as(client):
    def make(user) -> ApiClient:
        return ApiClient(client, token_for(user))

    return make


# --- The management API over a real socket (appended by the API work) ---------------


@pytest.fixture
def live_api(db):
    """Django's whole stack behind a real HTTP socket; yields the base URL.

    The server thread shares this test's database connection, so it sees the
    fixtures' rows and the test's rollback still cleans up (a transactional
    live server would have to flush the tables, price list included).
    """
    import threading

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import WSGIServer
    from django.db import connections
    from django.test.testcases import QuietWSGIRequestHandler

    shared = connections["default"]
    shared.inc_thread_sharing()
    # Django's per-request cleanup would close the connection mid-transaction, ending
    # the test's transaction; Django's test client dodges it the same way per request.
    shared.close_if_unusable_or_obsolete = lambda: None
    server = WSGIServer(("127.0.0.1", 0), QuietWSGIRequestHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())

    def serve():
        connections["default"] = shared
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=serve, name="live-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    del shared.close_if_unusable_or_obsolete
    shared.dec_thread_sharing()


class HttpApi:
    """JSON to /api/v1 over a real socket, with a bearer token or a session cookie."""

    def __init__(self, base_url: str, *, token: str | None = None, cookies=None, headers=None):
        import httpx

        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v1", headers=all_headers, cookies=cookies, timeout=10
        )

    def get(self, path, **params):
        return self.http.get(path, params=params)

    def post(self, path, json=None, **kwargs):
        return self.http.post(path, json=json if json is not None else {}, **kwargs)

    def patch(self, path, json, **kwargs):
        return self.http.patch(path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.http.delete(path, **kwargs)

    def close(self):
        self.http.close()


@pytest.fixture
def http_as(live_api):
    """`http_as(user)`: a bearer-token client for that persona; `http_as(token=raw)` too."""
    clients: list[HttpApi] = []

    def make(user=None, *, token: str | None = None, cookies=None, headers=None) -> HttpApi:
        if user is not None and token is None:
            token = token_for(user)
        client = HttpApi(live_api, token=token, cookies=cookies, headers=headers)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def fast_password_hashing(settings):
    """Persona fixtures hash a password each; PBKDF2's ~0.3 s per user dominates API tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
