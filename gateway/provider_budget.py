"""Provider monthly budgets: spend per provider per UTC month, hard caps, alert hook.

Only providers with a `monthly_budget_usd` are tracked (so a request to any other
provider costs no extra Redis round trip): each settled request adds its exact
cost to `candela:{p<id>}:spend:month:<YYYYMM>`. A `hard_cap` provider at or over
its budget is left out of routing, so traffic fails over to the model's other
routes and fallbacks. Crossing 70/80/90/100% of a budget asks
`governance.alerts.check_after_spend` (on a worker thread: it does blocking I/O)
to fire the alert from the ledger, once per threshold per month.

Spend is counted when a request settles, so requests already in flight when a
provider reaches its cap still finish there: a hard cap can be overshot by the
requests that were running at that moment, never by new ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.errors import governance_unavailable
from governance.alerts import PROVIDER_THRESHOLDS, check_after_spend
from governance.counters import keys as counter_keys
from governance.counters import provider_keys as keys
from governance.snapshot import RouteTarget

log = logging.getLogger(__name__)

AlertHook = Callable[[int | None, str], object]


def crossed(before: int, after: int, budget: int) -> tuple[int, ...]:
    """The thresholds (percent of `budget`) that `after` reached and `before` had not."""
    return tuple(
        t for t in PROVIDER_THRESHOLDS if before * 100 < budget * t <= after * 100 and budget > 0
    )


class SpendStore(Protocol):
    async def read(self, provider_ids: Sequence[int], now: float) -> dict[int, int]: ...

    async def add(self, provider_id: int, nano: int, now: float) -> int:
        """Add `nano`; returns the month's new total."""
        ...

    async def aclose(self) -> None: ...


class RedisSpendStore:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def read(self, provider_ids: Sequence[int], now: float) -> dict[int, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for pid in provider_ids:
                pipe.get(keys.provider_month(pid, now))
            values = await pipe.execute()
        return {pid: int(v or 0) for pid, v in zip(provider_ids, values, strict=True)}

    async def add(self, provider_id: int, nano: int, now: float) -> int:
        name = keys.provider_month(provider_id, now)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(name, nano)
            pipe.expire(name, counter_keys.month_ttl(now))
            total, _ = await pipe.execute()
        return int(total)

    async def aclose(self) -> None:
        await self._redis.aclose()


class MemorySpendStore:
    def __init__(self) -> None:
        self._spent: dict[str, int] = {}

    async def read(self, provider_ids: Sequence[int], now: float) -> dict[int, int]:
        return {pid: self._spent.get(keys.provider_month(pid, now), 0) for pid in provider_ids}

    async def add(self, provider_id: int, nano: int, now: float) -> int:
        name = keys.provider_month(provider_id, now)
        total = self._spent[name] = self._spent.get(name, 0) + nano
        return total

    async def aclose(self) -> None:
        return None


def _capped(target: RouteTarget) -> bool:
    return target.hard_cap and target.monthly_budget_nano is not None


class ProviderBudget:
    def __init__(self, store: SpendStore, alert: AlertHook = check_after_spend) -> None:
        self._store = store
        self._alert = alert
        self._pending: set[asyncio.Future[object]] = set()  # alert checks in flight

    async def within_budget(
        self, candidates: tuple[RouteTarget, ...], now: float
    ) -> tuple[RouteTarget, ...]:
        """`candidates` without hard-capped providers that have spent their budget."""
        capped = list(dict.fromkeys(t.provider_id for t in candidates if _capped(t)))
        if not capped:
            return candidates
        try:
            spent = await self._store.read(capped, now)
        except RedisError as exc:
            log.error("provider spend unreadable, refusing request: %s", exc)
            raise governance_unavailable(
                "Provider budgets are unavailable; the request was not forwarded."
            ) from None
        return tuple(
            t
            for t in candidates
            if not _capped(t) or spent[t.provider_id] < (t.monthly_budget_nano or 0)
        )

    async def add(self, target: RouteTarget, nano: int, now: float, tenant_id: int | None) -> None:
        """Count a settled cost; a crossed threshold schedules the alert check."""
        budget = target.monthly_budget_nano
        if budget is None or nano <= 0:
            return
        try:
            total = await self._store.add(target.provider_id, nano, now)
        except RedisError as exc:
            # Observability: the ledger still holds the cost and the sweep still alerts.
            log.warning("provider %s spend not counted: %s", target.provider_name, exc)
            return
        if crossed(total - nano, total, budget):
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(None, self._alert, tenant_id, target.provider_name)
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._store.aclose()


def build_provider_budget(redis_url: str) -> ProviderBudget:
    return ProviderBudget(RedisSpendStore(redis_url) if redis_url else MemorySpendStore())
