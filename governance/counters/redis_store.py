"""Counters in Redis, shared by every gateway process: one Lua script per reserve and per settle.

Both scripts run with EVALSHA over the lean pipelined client (governance/counters/resp.py:
redis-py's own client costs more CPU per call than the scripts), loaded again when a server
answers NOSCRIPT (restart, failover). Every key of one call carries the tenant's hash tag, so
the scripts also run on Redis Cluster. Any Redis failure surfaces as CounterStoreUnavailable:
governance fails closed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from redis.exceptions import RedisError

from governance.counters import keys
from governance.counters.base import (
    CounterStoreUnavailable,
    ReserveRequest,
    ReserveResult,
    SettleResult,
    SpendView,
)
from governance.counters.resp import RespClient, Script
from governance.counters.rules import WindowReading, build_result, check_request, usable_grants

_LUA = Path(__file__).resolve().parent / "lua"
_NONE = -1  # "no limit" as the scripts read it
_SWEEP_BATCH = 16  # abandoned reservations released per reserve, to bound script time
_DAY_SECONDS = 86_400


def _script(name: str) -> str:
    return (_LUA / "settle_record.lua").read_text() + "\n" + (_LUA / name).read_text()


def _limit(value: int | None) -> int:
    return _NONE if value is None else int(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Period:
    """A UTC day's key stamps and when its day and month end: formatting dates costs more
    than building every key of a reserve, so it is done once a day, not per request."""

    __slots__ = ("day", "day_end", "day_stamp", "month_end", "month_stamp")

    def __init__(self, now: float) -> None:
        self.day = int(now // _DAY_SECONDS)
        self.day_stamp, self.month_stamp = keys.day_stamp(now), keys.month_stamp(now)
        # As keys.day_ttl/month_ttl compute them: ttl = ceil(end - now) + grace.
        self.day_end = (self.day + 1) * _DAY_SECONDS
        first = datetime.fromtimestamp(now, UTC).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        after = (
            first.replace(year=first.year + 1, month=1)
            if first.month == 12
            else first.replace(month=first.month + 1)
        )
        self.month_end = after.timestamp()

    def ttl(self, end: float, now: float) -> int:
        return max(1, math.ceil(end - now)) + keys.PERIOD_GRACE_SECONDS


class RedisCounterStore:
    """CounterStore on Redis (standalone or Cluster-compatible key layout)."""

    def __init__(
        self,
        url: str,
        *,
        socket_timeout: float = 2.0,
        reservation_ttl_s: int = keys.RESERVATION_TTL_SECONDS,
    ) -> None:
        self._client = RespClient(url, timeout=socket_timeout)
        self._reserve = Script(self._client, _script("reserve.lua"))
        self._settle = Script(self._client, _script("settle.lua"))
        self._reservation_ttl_s = int(reservation_ttl_s)
        self._record_ttl_s = self._reservation_ttl_s + keys.RECORD_GRACE_SECONDS
        self._period = _Period(0.0)

    @property
    def client(self) -> RespClient:
        """The connection the scripts use; the gateway's breaker shares it (one write for
        its read and the reservation)."""
        return self._client

    def _period_of(self, now: float) -> _Period:
        period = self._period
        if period.day != now // _DAY_SECONDS:
            period = self._period = _Period(now)
        return period

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        check_request(req)
        grants = usable_grants(req) if req.grants else ()
        now, tenant = req.now, req.tenant_id
        period = self._period_of(now)
        day, month = period.day_stamp, period.month_stamp
        script_keys = [
            keys.key_window(tenant, req.key_id),
            keys.user_window(tenant, req.user_id),
            keys.tenant_day(tenant, day),
            keys.tenant_month(tenant, month),
            keys.user_day(tenant, req.user_id, day),
            keys.reservation(tenant, req.request_id),
            keys.pending(tenant),
            *(keys.grant(tenant, slot.grant_id) for slot in grants),
        ]
        args: list[str | int] = [
            repr(float(now)),
            int(req.cost_nano),
            _limit(req.key_rpm),
            _limit(req.user_rpm),
            _limit(req.user_daily_budget_nano),
            _limit(req.tenant_daily_cap_nano),
            _limit(req.tenant_monthly_cap_nano),
            req.request_id,
            period.ttl(period.day_end, now),
            period.ttl(period.month_end, now),
            repr(float(now) + self._reservation_ttl_s),
            self._record_ttl_s,
            _SWEEP_BATCH,
        ]
        for slot in grants:
            args += [
                int(slot.amount_nano),
                keys.grant_ttl(slot.expires_at, now),
                keys.grant_bucket(slot.grant_id),
            ]
        try:
            code, key_count, key_oldest, user_count, user_oldest = await self._reserve(
                script_keys, args
            )
        except RedisError as exc:
            raise CounterStoreUnavailable(f"counter store: reserve failed: {exc}") from exc
        windows = []
        if req.key_rpm is not None:
            windows.append(WindowReading(req.key_rpm, int(key_count), _score(key_oldest)))
        if req.user_rpm is not None:
            windows.append(WindowReading(req.user_rpm, int(user_count), _score(user_oldest)))
        return build_result(int(code), windows, now)

    async def settle(self, *, tenant_id: int, request_id: str, actual_nano: int) -> SettleResult:
        if actual_nano < 0:
            raise ValueError("actual_nano cannot be negative")
        try:
            reply = await self._settle(
                [keys.reservation(tenant_id, request_id), keys.pending(tenant_id)],
                [int(actual_nano)],
            )
        except RedisError as exc:
            raise CounterStoreUnavailable(f"counter store: settle failed: {exc}") from exc
        if not int(reply[0]):
            return SettleResult(charged_nano=0, by_bucket={})
        pairs = reply[1:]
        by_bucket = {_text(pairs[i]): int(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return SettleResult(charged_nano=int(actual_nano), by_bucket=by_bucket)

    async def release(self, *, tenant_id: int, request_id: str) -> None:
        await self.settle(tenant_id=tenant_id, request_id=request_id, actual_nano=0)

    async def spend(
        self, *, tenant_id: int, user_id: int, now: float, grant_ids: tuple[int, ...] = ()
    ) -> SpendView:
        day, month = keys.day_stamp(now), keys.month_stamp(now)
        names = [
            keys.user_day(tenant_id, user_id, day),
            keys.tenant_day(tenant_id, day),
            keys.tenant_month(tenant_id, month),
            *(keys.grant(tenant_id, grant_id) for grant_id in grant_ids),
        ]
        try:
            values = [int(value or 0) for value in await self._client.execute("MGET", *names)]
        except RedisError as exc:
            raise CounterStoreUnavailable(f"counter store: read failed: {exc}") from exc
        return SpendView(
            user_day_nano=values[0],
            tenant_day_nano=values[1],
            tenant_month_nano=values[2],
            grant_spent_nano=dict(zip(grant_ids, values[3:], strict=True)),
        )

    async def ping(self) -> None:
        try:
            await self._client.execute("PING")
        except RedisError as exc:
            raise CounterStoreUnavailable(f"counter store unreachable: {exc}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _score(raw: bytes | str) -> float | None:
    text = _text(raw)
    return float(text) if text else None
