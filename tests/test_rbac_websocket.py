"""The live feed websocket per role, through the real ASGI stack and the Redis channel layer:
anonymous visitors, developers and foreign origins are refused; a tenant admin receives
their tenant's requests only; operators receive every tenant's (or one picked tenant's)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.test import Client

from audit.live import ITEM_FIELDS, publish_events
from candela.asgi import application

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "redis_client"),
]
ORIGIN = "http://testserver"


@pytest.fixture(autouse=True)
def _keep_test_transaction(monkeypatch):
    """channels closes "old" connections around its database calls; inside the test's
    transaction that would close the test's own connection (Django's test client
    sidesteps this the same way)."""
    monkeypatch.setattr(connection, "close_if_unusable_or_obsolete", lambda: None)


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _event(tenant, request_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "llm_request",
        "action": "chat.completions",
        "request_id": request_id,
        "created_at": "2026-01-02T03:04:05.000000+00:00",
        "tenant_id": tenant.pk,
        "tenant_slug": tenant.slug,
        "actor_name": "dev",
        "key_prefix": "ck-abcdefghi",
        "model": "gpt-4o-mini",
        "provider": "fake",
        "decision": "allowed",
        "reason": "",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": "0.000020",
        "latency_ms": 12.5,
        "ip": "10.0.0.1",
        "data": {"endpoint": "chat.completions", "stream": False, "status": 200},
        **extra,
    }


def _headers(user=None, *, origin=ORIGIN) -> list[tuple[bytes, bytes]]:
    """Built outside the event loop: signing in touches the database."""
    headers = [(b"host", b"testserver")]
    if origin:
        headers.append((b"origin", origin.encode()))
    if user is not None:
        headers.append(
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={_session_cookie(user)}".encode())
        )
    return headers


def _connect(user=None, *, path="/ws/feed/", origin=ORIGIN) -> tuple[bool, Any]:
    headers = _headers(user, origin=origin)

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected, code

    return async_to_sync(scenario)()


def _received(user, events: list[dict[str, Any]], *, path="/ws/feed/") -> list[str]:
    """Connect as `user`, publish `events`, return the request ids the socket delivered."""
    headers = _headers(user)

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        assert connected, f"refused with {code}"
        await publish_events(events)
        seen: list[str] = []
        while not await communicator.receive_nothing(timeout=0.3):
            message = await communicator.receive_json_from()
            assert message["type"] == "requests"
            seen += [item["request_id"] for item in message["items"]]
        await communicator.disconnect()
        return seen

    return async_to_sync(scenario)()


def test_anonymous_visitors_are_refused():
    connected, code = _connect(None)
    assert not connected and code == 4401


def test_developers_are_refused(dev_a):
    connected, code = _connect(dev_a)
    assert not connected and code == 4403


def test_a_foreign_or_missing_origin_is_refused_even_for_operators(operator):
    assert _connect(operator, origin="https://evil.example")[0] is False
    assert _connect(operator, origin="")[0] is False
    assert _connect(operator)[0] is True


def test_tenant_admin_receives_their_tenants_requests_only(admin_a, tenant_a, tenant_b):
    events = [_event(tenant_a, "a-1"), _event(tenant_b, "b-1"), _event(tenant_a, "a-2")]
    assert _received(admin_a, events) == ["a-1", "a-2"]


def test_tenant_admin_cannot_subscribe_to_another_tenant(admin_a, tenant_b):
    connected, code = _connect(admin_a, path="/ws/feed/?tenant=globex")
    assert not connected and code == 4403


def test_operator_receives_every_tenant_or_the_picked_one(operator, tenant_a, tenant_b):
    events = [_event(tenant_a, "a-1"), _event(tenant_b, "b-1")]
    assert _received(operator, events) == ["a-1", "b-1"]
    assert _received(operator, events, path="/ws/feed/?tenant=globex") == ["b-1"]
    assert _connect(operator, path="/ws/feed/?tenant=nope")[0] is False


def test_feed_items_carry_no_prompt_text_ip_or_secrets(operator, tenant_a):
    event = _event(
        tenant_a,
        "a-1",
        changes={"prompt": "my SSN is 123-45-6789"},
        data={"endpoint": "chat.completions", "status": 200, "messages": ["hello secret"]},
    )

    headers = _headers(operator)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/feed/", headers=headers)
        assert (await communicator.connect())[0]
        await publish_events([event])
        message = await communicator.receive_json_from()
        await communicator.disconnect()
        return message

    item = async_to_sync(scenario)()["items"][0]
    assert set(item) == {*ITEM_FIELDS, "created_at", "cost_usd", "endpoint", "status"}
    text = str(item)
    assert "123-45-6789" not in text and "hello secret" not in text and "10.0.0.1" not in text
    assert item["cost_usd"] == "0.000020" and item["status"] == 200


def test_events_other_than_requests_are_not_published(operator, tenant_a):
    admin_event = _event(tenant_a, "adm-1", kind="admin_action")
    assert _received(operator, [admin_event, _event(tenant_a, "a-1")]) == ["a-1"]
