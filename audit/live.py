"""The live request feed: LLM-request events pushed to dashboards through the channel layer.

The gateway's recorder calls `publish_events` with each batch it has written. Groups:
`feed.all` (operators) and `feed.tenant.<id>` (that tenant's admins). An item carries ids,
model, outcome, cost, tokens and latency: never prompt text, never a secret. Publishing is
fail-open: the feed is a view, the audit trail is the record.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from audit.constants import EventKind
from audit.models import AuditEvent

log = logging.getLogger(__name__)

ALL_GROUP = "feed.all"
MESSAGE_TYPE = "feed.events"  # handled by FeedConsumer.feed_events
# A dashboard shows the newest rows only; a huge batch is not worth shipping whole.
MAX_ITEMS = 100
PUBLISH_TIMEOUT_S = 1.0
ITEM_FIELDS = (
    "request_id",
    "tenant_id",
    "tenant_slug",
    "actor_name",
    "key_prefix",
    "model",
    "provider",
    "decision",
    "reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
)


def tenant_group(tenant_id: int) -> str:
    return f"feed.tenant.{tenant_id}"


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return f"{value:f}"
    return "" if value is None else str(value)


def feed_item(event: Mapping[str, Any]) -> dict[str, Any]:
    """The displayable part of an `llm_request` event (a dict of AuditEvent fields)."""
    item = {name: event.get(name) for name in ITEM_FIELDS}
    data = event.get("data") or {}
    item["created_at"] = _text(event.get("created_at"))
    item["cost_usd"] = _text(event.get("cost_usd") or "0")
    item["endpoint"] = str(data.get("endpoint") or event.get("action") or "")
    item["status"] = data.get("status")
    return item


def _messages(items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    by_tenant: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        if item["tenant_id"] is not None:
            by_tenant[int(item["tenant_id"])].append(item)
    messages = [(ALL_GROUP, {"type": MESSAGE_TYPE, "items": items})]
    messages += [
        (tenant_group(tenant_id), {"type": MESSAGE_TYPE, "items": tenant_items})
        for tenant_id, tenant_items in by_tenant.items()
    ]
    return messages


async def publish_events(events: Iterable[Mapping[str, Any]]) -> None:
    """Push written `llm_request` events to the dashboards; never raises for delivery trouble.

    Call it from the event loop that serves the websockets' process (the in-memory layer
    of the embedded mode only reaches consumers of its own loop).
    """
    items = [
        feed_item(event)
        for event in events
        if event.get("kind", EventKind.LLM_REQUEST) == EventKind.LLM_REQUEST
    ][-MAX_ITEMS:]
    if not items:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            for group, message in _messages(items):
                await layer.group_send(group, message)
    except (RedisError, OSError, TimeoutError, ChannelFull) as exc:
        # Only the kind of failure: messages and arguments could carry connection URLs.
        log.warning("live feed: %d items not published (%s)", len(items), type(exc).__name__)


def recent_items(tenant_id: int | None, *, limit: int = 25) -> list[dict[str, Any]]:
    """The newest `llm_request` events, newest first, as feed items (for the first render)."""
    events = AuditEvent.objects.filter(kind=EventKind.LLM_REQUEST)
    if tenant_id is not None:
        events = events.for_tenant(tenant_id)
    fields = [*ITEM_FIELDS, "created_at", "cost_usd", "action", "data"]
    return [feed_item(row) for row in events.order_by("-id").values(*fields)[:limit]]
