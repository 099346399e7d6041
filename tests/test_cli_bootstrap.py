"""`candela bootstrap --json`: an operator and a management token that works."""

from __future__ import annotations

import json

import pytest
from test_cli_support import run_cli, server_env

from candela.demo import bootstrap_operator
from governance.services.tenants import create_tenant
from governance.services.users import create_user
from tenants.constants import Role
from tenants.models import ManagementToken, Tenant, User
from tenants.tokens import digest_secret

pytestmark = pytest.mark.django_db(transaction=True)


def _bootstrap(home) -> dict:
    # Not production: bootstrap honours DATABASE_URL like the server, without a secret key.
    env = server_env(home)
    del env["CANDELA_SECRET_KEY"]
    done = run_cli("candela", "bootstrap", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # stdout is exactly one JSON object


def test_creates_the_operator_once_and_issues_a_token_every_call(client, tmp_path):
    first = _bootstrap(tmp_path)
    assert set(first) == {"username", "password", "token"}
    assert first["username"] == "operator"
    assert first["password"] and first["token"].startswith("cm-")

    operator = User.objects.get(username="operator")
    assert operator.role == Role.OPERATOR and operator.is_superuser
    assert operator.check_password(first["password"])

    second = _bootstrap(tmp_path)
    assert second["username"] == "operator"
    assert second["password"] is None  # never reset
    assert second["token"] != first["token"]
    operator.refresh_from_db()
    assert operator.check_password(first["password"])
    assert User.objects.filter(role=Role.OPERATOR).count() == 1

    tokens = ManagementToken.objects.filter(user=operator)
    assert {t.digest for t in tokens} == {
        digest_secret(first["token"]),
        digest_secret(second["token"]),
    }

    created = client.post(
        "/api/v1/tenants",
        data={"name": "Initech", "slug": "initech"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {second['token']}"},
    )
    assert created.status_code == 201, created.content
    assert created.json()["slug"] == "initech"
    assert Tenant.objects.filter(slug="initech").exists()


def test_reuses_an_existing_operator_of_another_name(tmp_path):
    create_user(
        actor=None, email="root@platform.test", tenant=None, role=Role.OPERATOR, username="root"
    )
    answer = _bootstrap(tmp_path)
    assert answer == {"username": "root", "password": None, "token": answer["token"]}
    assert not User.objects.filter(username="operator").exists()


def test_a_non_operator_named_operator_is_left_alone():
    tenant = create_tenant(actor=None, name="Acme", slug="acme")
    developer = create_user(
        actor=None, email="op@acme.test", tenant=tenant, role=Role.DEVELOPER, username="operator"
    )
    answer = bootstrap_operator()
    assert answer["username"].startswith("operator-") and answer["password"]
    created = User.objects.get(username=answer["username"])
    assert created.role == Role.OPERATOR and created.check_password(answer["password"])
    developer.refresh_from_db()
    assert developer.role == Role.DEVELOPER and not developer.is_superuser
