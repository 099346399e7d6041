"""What a gateway process holds open: upstream session, counters, policy, recorder.

Built without I/O (so importing the ASGI app is cheap); `start()` opens
everything inside the server's event loop, `stop()` flushes and closes.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from gateway.breaker import Breaker, BreakerSettings, build_breaker
from gateway.budget import BudgetGate
from gateway.config import GatewayConfig
from gateway.policy import PolicyHolder
from gateway.provider_budget import ProviderBudget, build_provider_budget
from gateway.recorder import Recorder
from gateway.upstream import build_session
from governance.counters.base import CounterStore, CounterStoreUnavailable, build_counter_store
from governance.counters.redis_store import RedisCounterStore

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.policy = PolicyHolder(config)
        self.recorder = Recorder(config)
        self.store: CounterStore | None = None
        self.gate: BudgetGate | None = None
        self.session: aiohttp.ClientSession | None = None
        self.breaker: Breaker | None = None
        self.provider_budget: ProviderBudget | None = None
        self.started = False
        self._starting: asyncio.Lock | None = None

    async def start(self) -> None:
        if self.started:
            return
        self.store = build_counter_store()
        try:
            await self.store.ping()
        except CounterStoreUnavailable as exc:
            # Serve 503s until it is back rather than refusing to start.
            log.error("counter store unavailable at startup: %s", exc)
        self.gate = BudgetGate(self.store)
        self.session = build_session(self.config)
        config = self.config
        self.breaker = build_breaker(
            self.store.client if isinstance(self.store, RedisCounterStore) else None,
            BreakerSettings(
                failures=config.breaker_failures,
                open_seconds=config.breaker_open_seconds,
                # A probe may take as long as one upstream call can.
                probe_seconds=config.connect_timeout + config.read_timeout,
            ),
        )
        self.provider_budget = build_provider_budget(config.redis_url)
        await self.recorder.start()
        await self.policy.start()
        self.started = True

    async def ensure_started(self) -> None:
        """Start on the first request when the server sent no lifespan events."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            await self.start()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.policy.stop()
        await self.recorder.stop()
        if self.session is not None:
            await self.session.close()
        if self.breaker is not None:
            await self.breaker.aclose()
        if self.provider_budget is not None:
            await self.provider_budget.aclose()
        if self.store is not None:
            await self.store.aclose()
