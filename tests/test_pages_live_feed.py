"""The live feed's plumbing outside a browser: the embedded in-memory channel layer reaches
dashboards in the same process, and a dead Redis never breaks the publisher (fail-open)."""

from __future__ import annotations

import logging
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from audit.live import ALL_GROUP, publish_events, recent_items, tenant_group
from audit.services import append_events

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
DEAD_REDIS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
    }
}


def _event(request_id: str, tenant_id: int = 7) -> dict:
    return {"kind": "llm_request", "request_id": request_id, "tenant_id": tenant_id,
            "tenant_slug": "acme", "model": "m", "decision": "allowed", "cost_usd": "0.1"}  # fmt: skip


def test_embedded_layer_delivers_to_both_groups_in_process(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY

    async def scenario():
        layer = get_channel_layer()
        everyone, tenant = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(ALL_GROUP, everyone)
        await layer.group_add(tenant_group(7), tenant)
        await publish_events([_event("r-1"), _event("r-2", tenant_id=8)])
        return await layer.receive(everyone), await layer.receive(tenant)

    to_everyone, to_tenant = async_to_sync(scenario)()
    assert [item["request_id"] for item in to_everyone["items"]] == ["r-1", "r-2"]
    assert [item["request_id"] for item in to_tenant["items"]] == ["r-1"]
    assert to_tenant["type"] == "feed.events"


def test_unreachable_redis_is_logged_not_raised(settings, caplog):
    settings.CHANNEL_LAYERS = DEAD_REDIS
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="audit.live"):
        async_to_sync(publish_events)([_event("r-1")])
    assert time.monotonic() - started < 3
    [record] = caplog.records
    assert "not published" in record.getMessage() and "127.0.0.1:1" not in record.getMessage()


@pytest.mark.django_db
def test_recent_items_are_newest_first_and_tenant_scoped(tenant_a, tenant_b):
    append_events(
        [
            {**_event("a-1", tenant_a.pk), "action": "chat"},
            {**_event("b-1", tenant_b.pk), "action": "chat"},
            {**_event("a-2", tenant_a.pk), "action": "chat"},
            {"kind": "admin_action", "action": "key.mint", "tenant_id": tenant_a.pk},
        ]
    )
    assert [i["request_id"] for i in recent_items(tenant_a.pk)] == ["a-2", "a-1"]
    assert [i["request_id"] for i in recent_items(None)] == ["a-2", "b-1", "a-1"]
