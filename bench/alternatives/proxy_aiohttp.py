"""Bare proxy with aiohttp's client (the one Candela's gateway uses)."""

from __future__ import annotations

import aiohttp
from common import Proxy


class AiohttpUpstream:
    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1024, limit_per_host=0)
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self.session.post(url, data=body, headers=headers) as response:
            return response.status, await response.read()

    async def close(self) -> None:
        await self.session.close()


app = Proxy(AiohttpUpstream)
