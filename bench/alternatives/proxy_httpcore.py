"""Bare proxy with httpcore alone (httpx's transport, without httpx's models)."""

from __future__ import annotations

import httpcore
from common import Proxy


class HttpcoreUpstream:
    def __init__(self) -> None:
        self.pool = httpcore.AsyncConnectionPool(
            max_connections=1024, max_keepalive_connections=1024
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = await self.pool.request("POST", url, headers=list(headers.items()), content=body)
        return response.status, response.content

    async def close(self) -> None:
        await self.pool.aclose()


app = Proxy(HttpcoreUpstream)
