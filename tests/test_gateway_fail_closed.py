"""Fail-closed: without counters or policy, nothing is forwarded (503)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.gateway_harness import (
    TcpProxy,
    auth,
    chat_body,
    database_proxy,
    database_url_for_gateways,
    free_port,
    redis_host_port,
    running_gateways,
    wait_for_records,
    wait_until,
)

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")


def _chat(url: str, raw: str) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=chat_body(), headers=auth(raw), timeout=10)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "governance_unavailable"


@pytest.fixture
def redis_proxy():
    host, port, _ = redis_host_port()
    proxy = TcpProxy(host, port)
    yield proxy
    proxy.close()


def test_redis_unreachable_from_the_start_is_503(tmp_path, setup, dev_a, fake):
    _, raw = setup.key(dev_a)
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with running_gateways(tmp_path, require_policy=False, REDIS_URL=dead_redis) as gateways:
        response = _chat(gateways.url, raw)
        _assert_unavailable(response)
        (row,) = wait_for_records([response.headers["x-candela-request-id"]])
        assert (row.decision, row.reason, row.status_code) == (
            "error",
            "governance_unavailable",
            503,
        )
    assert fake.request_count == 0


def test_redis_going_down_refuses_then_recovers(tmp_path, setup, dev_a, fake, redis_proxy):
    _, raw = setup.key(dev_a)
    _, _, db = redis_host_port()
    proxied = f"redis://127.0.0.1:{redis_proxy.port}/{db}"
    with running_gateways(tmp_path, REDIS_URL=proxied) as gateways:
        gateways.sync()
        assert _chat(gateways.url, raw).status_code == 200
        redis_proxy.down()
        _assert_unavailable(_chat(gateways.url, raw))
        _assert_unavailable(_chat(gateways.url, raw))
        assert fake.request_count == 1
        redis_proxy.up()
        assert wait_until(lambda: _chat(gateways.url, raw).status_code == 200, timeout=10)


def test_policy_unreadable_is_503_until_the_database_is_back(tmp_path, setup, dev_a, fake):
    _, raw = setup.key(dev_a)
    db_proxy = database_proxy()
    db_proxy.down()
    try:
        database = database_url_for_gateways(port=db_proxy.port)
        with running_gateways(tmp_path, require_policy=False, DATABASE_URL=database) as gateways:
            _assert_unavailable(_chat(gateways.url, raw))
            assert fake.request_count == 0
            db_proxy.up()
            started = time.monotonic()
            assert wait_until(lambda: _chat(gateways.url, raw).status_code == 200, timeout=10)
            assert time.monotonic() - started < 3
    finally:
        db_proxy.close()
