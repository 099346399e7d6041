"""Bare proxy with httpx's AsyncClient (the client used everywhere but the hot path)."""

from __future__ import annotations

import httpx
from common import Proxy


class HttpxUpstream:
    def __init__(self) -> None:
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=1024),
            timeout=30,
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = await self.client.post(url, content=body, headers=headers)
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


app = Proxy(HttpxUpstream)
