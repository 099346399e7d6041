"""Counters in this process's memory, for the embedded single-process mode.

Same semantics as RedisCounterStore (and the same key names), with the same atomicity: no
await between check and update, and a thread lock because Django's sync views may read it
from worker threads. Counters expire on the requests' own clock (`now`), like Redis keys do.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from dataclasses import dataclass

from governance.counters import keys
from governance.counters.base import ReserveRequest, ReserveResult, SettleResult, SpendView
from governance.counters.rules import (
    ALREADY_RESERVED,
    DENIED_BUDGET,
    DENIED_CAP,
    DENIED_RATE,
    RESERVED,
    WindowReading,
    build_result,
    check_request,
    usable_grants,
)

_PRUNE_EVERY_SECONDS = 3_600.0


@dataclass(frozen=True, slots=True)
class _Source:
    key: str  # counter key
    bucket: str  # name in SettleResult.by_bucket
    available: int
    ttl: int


@dataclass(frozen=True, slots=True)
class _Reservation:
    cost: int
    tenant_day: str
    tenant_month: str
    buckets: tuple[tuple[str, str, int], ...]  # (counter key, bucket name, amount) in order
    deadline: float


class MemoryCounterStore:
    """CounterStore for one process."""

    def __init__(self, *, reservation_ttl_s: int = keys.RESERVATION_TTL_SECONDS) -> None:
        self._reservation_ttl_s = int(reservation_ttl_s)
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._windows: dict[str, list[tuple[float, str]]] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._deadlines: dict[int, list[tuple[float, str]]] = {}  # tenant → heap
        self._next_prune = 0.0

    # -- counters ---------------------------------------------------------------------------

    def _get(self, key: str, now: float) -> int:
        if self._expires.get(key, now + 1) <= now:
            return 0
        return self._counters.get(key, 0)

    def _add(self, key: str, amount: int, ttl: int, now: float) -> None:
        self._counters[key] = self._get(key, now) + amount
        self._expires[key] = now + ttl

    def _adjust(self, key: str, delta: int) -> None:
        # Like the Lua script: a counter that has expired is not brought back.
        if delta and key in self._counters:
            self._counters[key] += delta

    def _prune(self, now: float) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY_SECONDS
        for key in [key for key, at in self._expires.items() if at <= now]:
            del self._expires[key]
            self._counters.pop(key, None)
        stale = [key for key, entries in self._windows.items() if self._trim(entries, now) == 0]
        for key in stale:
            del self._windows[key]

    # -- rate windows -----------------------------------------------------------------------

    @staticmethod
    def _trim(entries: list[tuple[float, str]], now: float) -> int:
        cut = bisect.bisect_right(entries, now - keys.WINDOW_SECONDS, key=lambda e: e[0])
        del entries[:cut]
        return len(entries)

    def _window(self, key: str, rpm: int | None, now: float) -> tuple[int, float | None]:
        if rpm is None:
            return 0, None
        entries = self._windows.get(key, [])
        count = self._trim(entries, now)
        return count, entries[0][0] if entries else None

    def _enter(self, key: str, now: float, member: str) -> None:
        bisect.insort(self._windows.setdefault(key, []), (now, member), key=lambda e: e[0])

    # -- reservations -----------------------------------------------------------------------

    def _settle_record(self, rec_key: str, actual: int) -> dict[str, int] | None:
        record = self._reservations.pop(rec_key, None)
        if record is None:
            return None
        left = actual
        charges = []
        for _key, _bucket, held in record.buckets:
            take = min(held, left)
            charges.append(take)
            left -= take
        charges[0] += left  # overflow: the first bucket, so spend stays exact
        charged: dict[str, int] = {}
        for (key, bucket, held), charge in zip(record.buckets, charges, strict=True):
            self._adjust(key, charge - held)
            if charge > 0:
                charged[bucket] = charge
        self._adjust(record.tenant_day, actual - record.cost)
        self._adjust(record.tenant_month, actual - record.cost)
        return charged

    def _sweep(self, tenant_id: int, now: float) -> None:
        heap = self._deadlines.get(tenant_id, [])
        while heap and heap[0][0] <= now:
            deadline, rec_key = heapq.heappop(heap)
            record = self._reservations.get(rec_key)
            if record is not None and record.deadline == deadline:
                self._settle_record(rec_key, 0)

    def _sources(self, req: ReserveRequest, user_day: str, day_ttl: int) -> list[_Source]:
        if req.user_daily_budget_nano is None:
            return [_Source(user_day, keys.DAILY_BUDGET_BUCKET, req.cost_nano, day_ttl)]
        daily_left = max(0, req.user_daily_budget_nano - self._get(user_day, req.now))
        sources = [_Source(user_day, keys.DAILY_BUDGET_BUCKET, daily_left, day_ttl)]
        for slot in usable_grants(req):
            key = keys.grant(req.tenant_id, slot.grant_id)
            sources.append(
                _Source(
                    key,
                    keys.grant_bucket(slot.grant_id),
                    max(0, slot.amount_nano - self._get(key, req.now)),
                    keys.grant_ttl(slot.expires_at, req.now),
                )
            )
        return sources

    def _decide(self, req: ReserveRequest) -> tuple[int, list[WindowReading]]:
        now, cost = req.now, req.cost_nano
        self._prune(now)
        self._sweep(req.tenant_id, now)
        key_window = keys.key_window(req.tenant_id, req.key_id)
        user_window = keys.user_window(req.tenant_id, req.user_id)
        key_count, key_oldest = self._window(key_window, req.key_rpm, now)
        user_count, user_oldest = self._window(user_window, req.user_rpm, now)

        def readings() -> list[WindowReading]:
            found = []
            if req.key_rpm is not None:
                found.append(WindowReading(req.key_rpm, key_count, key_oldest))
            if req.user_rpm is not None:
                found.append(WindowReading(req.user_rpm, user_count, user_oldest))
            return found

        rec_key = keys.reservation(req.tenant_id, req.request_id)
        if rec_key in self._reservations:
            return ALREADY_RESERVED, readings()
        if (req.key_rpm is not None and key_count >= req.key_rpm) or (
            req.user_rpm is not None and user_count >= req.user_rpm
        ):
            return DENIED_RATE, readings()

        day, month = keys.day_stamp(now), keys.month_stamp(now)
        tenant_day = keys.tenant_day(req.tenant_id, day)
        tenant_month = keys.tenant_month(req.tenant_id, month)
        day_cap, month_cap = req.tenant_daily_cap_nano, req.tenant_monthly_cap_nano
        if (day_cap is not None and self._get(tenant_day, now) + cost > day_cap) or (
            month_cap is not None and self._get(tenant_month, now) + cost > month_cap
        ):
            return DENIED_CAP, readings()

        day_ttl = keys.day_ttl(now)
        sources = self._sources(req, keys.user_day(req.tenant_id, req.user_id, day), day_ttl)
        left = cost
        taken: list[tuple[_Source, int]] = []
        for source in sources:
            if left <= 0:
                break
            take = min(source.available, left)
            if take > 0:
                taken.append((source, take))
                left -= take
        if left > 0:
            return DENIED_BUDGET, readings()
        if not taken:
            # Cost 0 (rate limit only): an actual cost at settle goes where the next spend would.
            first = next((s for s in sources if s.available > 0), sources[0])
            taken.append((first, 0))

        if req.key_rpm is not None:
            self._enter(key_window, now, req.request_id)
            key_count, key_oldest = key_count + 1, key_oldest if key_oldest is not None else now
        if req.user_rpm is not None:
            self._enter(user_window, now, req.request_id)
            user_count, user_oldest = (
                user_count + 1,
                user_oldest if user_oldest is not None else now,
            )
        self._add(tenant_day, cost, day_ttl, now)
        self._add(tenant_month, cost, keys.month_ttl(now), now)
        for source, take in taken:
            self._add(source.key, take, source.ttl, now)
        deadline = now + self._reservation_ttl_s
        self._reservations[rec_key] = _Reservation(
            cost=cost,
            tenant_day=tenant_day,
            tenant_month=tenant_month,
            buckets=tuple((s.key, s.bucket, take) for s, take in taken),
            deadline=deadline,
        )
        heapq.heappush(self._deadlines.setdefault(req.tenant_id, []), (deadline, rec_key))
        return RESERVED, readings()

    # -- CounterStore -------------------------------------------------------------------------

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        check_request(req)
        with self._lock:
            code, windows = self._decide(req)
        return build_result(code, windows, req.now)

    async def settle(self, *, tenant_id: int, request_id: str, actual_nano: int) -> SettleResult:
        if actual_nano < 0:
            raise ValueError("actual_nano cannot be negative")
        with self._lock:
            charged = self._settle_record(keys.reservation(tenant_id, request_id), actual_nano)
        if charged is None:
            return SettleResult(charged_nano=0, by_bucket={})
        return SettleResult(charged_nano=int(actual_nano), by_bucket=charged)

    async def release(self, *, tenant_id: int, request_id: str) -> None:
        await self.settle(tenant_id=tenant_id, request_id=request_id, actual_nano=0)

    async def spend(
        self, *, tenant_id: int, user_id: int, now: float, grant_ids: tuple[int, ...] = ()
    ) -> SpendView:
        day, month = keys.day_stamp(now), keys.month_stamp(now)
        with self._lock:
            return SpendView(
                user_day_nano=self._get(keys.user_day(tenant_id, user_id, day), now),
                tenant_day_nano=self._get(keys.tenant_day(tenant_id, day), now),
                tenant_month_nano=self._get(keys.tenant_month(tenant_id, month), now),
                grant_spent_nano={
                    grant_id: self._get(keys.grant(tenant_id, grant_id), now)
                    for grant_id in grant_ids
                },
            )

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
