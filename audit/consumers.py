"""The live feed websocket (`/ws/feed/`): role-scoped streams of LLM-request events.

The session (channels' AuthMiddlewareStack) says who is connecting. Operators receive every
tenant's requests, or one tenant's with `?tenant=<slug>`; tenant admins receive their own
tenant's only; developers and anonymous visitors are refused before the handshake completes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from audit.live import ALL_GROUP, tenant_group
from tenants.models import Tenant

# Close codes in the application range (4000-4999), so a client can tell why.
UNAUTHENTICATED = 4401
FORBIDDEN = 4403


@database_sync_to_async
def _tenant_id(slug: str) -> int | None:
    return Tenant.objects.filter(slug=slug).values_list("pk", flat=True).first()


class FeedConsumer(AsyncJsonWebsocketConsumer):
    feed_groups: tuple[str, ...] = ()

    async def _groups_for(self, user: Any) -> tuple[str, ...]:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        slug = (query.get("tenant") or [""])[0]
        if user.is_operator:
            if not slug:
                return (ALL_GROUP,)
            tenant_id = await _tenant_id(slug)
            return (tenant_group(tenant_id),) if tenant_id else ()
        if user.is_tenant_admin and user.tenant_id is not None:
            # A tenant admin naming another tenant gets nothing, as for an unknown tenant.
            if slug and await _tenant_id(slug) != user.tenant_id:
                return ()
            return (tenant_group(user.tenant_id),)
        return ()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=UNAUTHENTICATED)
            return
        groups = await self._groups_for(user)
        if not groups:
            await self.close(code=FORBIDDEN)
            return
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.feed_groups = groups
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.feed_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The feed is one-way; whatever a client sends is ignored."""

    async def feed_events(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "requests", "items": message["items"]})
