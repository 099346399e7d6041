"""`candela up`: laptop mode on SQLite, demo credentials printed once, admin login works."""

from __future__ import annotations

import re

import httpx
import pytest
from test_cli_support import clean_env, free_port, running

pytestmark = pytest.mark.sqlite

CREDENTIALS = re.compile(
    r"operator\s+(?P<operator>\S+) / (?P<operator_password>\S+)\n"
    r"\s+management token\s+(?P<token>cm-\S+)\n"
    r"\s+developer\s+(?P<developer>\S+) / (?P<developer_password>\S+)\n"
    r"\s+gateway key\s+(?P<key>ck-\S+)"
)


def _admin_login(base_url: str, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        form = client.get("/admin/login/")
        assert form.status_code == 200
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        answer = client.post(
            "/admin/login/?next=/admin/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": csrf,
                "next": "/admin/",
            },
            follow_redirects=True,
        )
        return answer


def test_first_start_prints_credentials_once_and_they_work(tmp_path):
    home = tmp_path / "home"
    env = clean_env(CANDELA_HOME=str(home))
    port = free_port()

    with running("candela", "up", env=env, port=port, log_path=tmp_path / "first.log") as server:
        health = httpx.get(f"{server.base_url}/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json() == {"database": "ok", "counters": "ok"}
        assert (home / "candela.sqlite3").exists()

        printed = CREDENTIALS.search(server.output())
        assert printed, server.output()
        assert printed["operator"] == "operator"

        admin = _admin_login(server.base_url, "operator", printed["operator_password"])
        assert admin.status_code == 200
        assert str(admin.url).endswith("/admin/")
        assert "Site administration" in admin.text

        # The printed gateway key is live: the gateway lists the demo model for it.
        models = httpx.get(
            f"{server.base_url}/v1/models",
            headers={"Authorization": f"Bearer {printed['key']}"},
            timeout=10,
        )
        assert models.status_code == 200, models.text
        assert "gpt-4o-mini" in {model["id"] for model in models.json()["data"]}
        forged = printed["key"][:-4] + "AAAA"
        refused = httpx.get(
            f"{server.base_url}/v1/models",
            headers={"Authorization": f"Bearer {forged}"},
            timeout=10,
        )
        assert refused.status_code == 401

        wrong = _admin_login(server.base_url, "operator", "not-the-password")
        assert "Site administration" not in wrong.text

        # The developer is no staff member: the admin refuses them.
        developer = _admin_login(
            server.base_url, printed["developer"], printed["developer_password"]
        )
        assert "Site administration" not in developer.text

    with running("candela", env=env, port=port, log_path=tmp_path / "second.log") as server:
        again = server.output()
        assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
        assert "cm-" not in again and "ck-" not in again
        assert printed["operator_password"] not in again
        assert "shown on first start" in again
        # Same database: the password printed on first start still signs in.
        admin = _admin_login(server.base_url, "operator", printed["operator_password"])
        assert "Site administration" in admin.text
