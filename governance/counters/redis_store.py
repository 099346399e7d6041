"""Counters in Redis, shared by every gateway process: one Lua script per reserve and per settle.

Both scripts are loaded once (SCRIPT LOAD) and run with EVALSHA; redis-py's script object loads
them again when a server answers NOSCRIPT (restart, failover). Every key of one call carries
the tenant's hash tag, so the scripts also run on Redis Cluster. Any Redis failure surfaces as
CounterStoreUnavailable: governance fails closed.
"""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from governance.counters import keys
from governance.counters.base import (
    CounterStoreUnavailable,
    ReserveRequest,
    ReserveResult,
    SettleResult,
    SpendView,
)
from governance.counters.rules import WindowReading, build_result, check_request, usable_grants

_LUA = Path(__file__).resolve().parent / "lua"
_NONE = -1  # "no limit" as the scripts read it
_SWEEP_BATCH = 16  # abandoned reservations released per reserve, to bound script time


def _script(name: str) -> str:
    return (_LUA / "settle_record.lua").read_text() + "\n" + (_LUA / name).read_text()


def _limit(value: int | None) -> int:
    return _NONE if value is None else int(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisCounterStore:
    """CounterStore on Redis (standalone or Cluster-compatible key layout)."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 64,
        socket_timeout: float = 2.0,
        reservation_ttl_s: int = keys.RESERVATION_TTL_SECONDS,
    ) -> None:
        # One retry without backoff rides over a pooled connection the server closed; retrying a
        # script is safe because reserve is idempotent per request id and settle per record.
        self._pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._redis = Redis(connection_pool=self._pool)
        self._reserve = self._redis.register_script(_script("reserve.lua"))
        self._settle = self._redis.register_script(_script("settle.lua"))
        self._reservation_ttl_s = int(reservation_ttl_s)

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        check_request(req)
        grants = usable_grants(req)
        day, month = keys.day_stamp(req.now), keys.month_stamp(req.now)
        script_keys = [
            keys.key_window(req.tenant_id, req.key_id),
            keys.user_window(req.tenant_id, req.user_id),
            keys.tenant_day(req.tenant_id, day),
            keys.tenant_month(req.tenant_id, month),
            keys.user_day(req.tenant_id, req.user_id, day),
            keys.reservation(req.tenant_id, req.request_id),
            keys.pending(req.tenant_id),
            *(keys.grant(req.tenant_id, slot.grant_id) for slot in grants),
        ]
        args: list[str | int] = [
            repr(float(req.now)),
            int(req.cost_nano),
            _limit(req.key_rpm),
            _limit(req.user_rpm),
            _limit(req.user_daily_budget_nano),
            _limit(req.tenant_daily_cap_nano),
            _limit(req.tenant_monthly_cap_nano),
            req.request_id,
            keys.day_ttl(req.now),
            keys.month_ttl(req.now),
            repr(float(req.now) + self._reservation_ttl_s),
            self._reservation_ttl_s + keys.RECORD_GRACE_SECONDS,
            _SWEEP_BATCH,
        ]
        for slot in grants:
            args += [
                int(slot.amount_nano),
                keys.grant_ttl(slot.expires_at, req.now),
                keys.grant_bucket(slot.grant_id),
            ]
        try:
            code, key_count, key_oldest, user_count, user_oldest = await self._reserve(
                keys=script_keys, args=args
            )
        except RedisError as exc:
            raise CounterStoreUnavailable(f"counter store: reserve failed: {exc}") from exc
        windows = []
        if req.key_rpm is not None:
            windows.append(WindowReading(req.key_rpm, int(key_count), _score(key_oldest)))
        if req.user_rpm is not None:
            windows.append(WindowReading(req.user_rpm, int(user_count), _score(user_oldest)))
        return build_result(int(code), windows, req.now)

    async def settle(self, *, tenant_id: int, request_id: str, actual_nano: int) -> SettleResult:
        if actual_nano < 0:
            raise ValueError("actual_nano cannot be negative")
        try:
            reply = await self._settle(
                keys=[keys.reservation(tenant_id, request_id), keys.pending(tenant_id)],
                args=[int(actual_nano)],
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
            values = [int(value or 0) for value in await self._redis.mget(names)]
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
            await self._redis.ping()
        except RedisError as exc:
            raise CounterStoreUnavailable(f"counter store unreachable: {exc}") from exc

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._pool.aclose()


def _score(raw: bytes | str) -> float | None:
    text = _text(raw)
    return float(text) if text else None
