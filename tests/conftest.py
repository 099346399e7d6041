"""Shared fixtures: personas in two tenants, API clients, clean Redis."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis as redis_lib
from django.conf import settings

from governance.services.tenants import create_tenant
from governance.services.users import create_user, issue_management_token
from tenants.constants import Role


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
