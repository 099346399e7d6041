"""Circuit breaker per provider, shared by every gateway process through Redis.

closed → `CANDELA_BREAKER_FAILURES` consecutive failures → open for
`CANDELA_BREAKER_OPEN_SECONDS` (traffic routes around the provider) → half-open:
the first request after the open period wins a `SET NX` probe slot and is let
through, every other request keeps routing around → the probe's success closes
the breaker, its failure opens it for another period.

Times are Redis server time (`TIME` inside the scripts), so processes on several
hosts agree. Embedded mode (no Redis) keeps the same state machine in memory.
The breaker is availability, not governance: when Redis cannot be read, a
provider counts as closed (the budget gate still fails closed on its own).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from governance.counters import provider_keys as keys
from governance.counters.resp import RespClient, Script

log = logging.getLogger(__name__)

CLOSED, PROBE, OPEN = 1, 2, 0
KEY_TTL_SECONDS = 86_400  # consecutive failures older than a quiet day are forgotten

# KEYS: fails, open_until, probe. ARGV: probe_ttl_ms. → {state, consecutive failures}
_ADMIT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local open_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if open_until == 0 then
  return {1, tonumber(redis.call('GET', KEYS[1]) or '0')}
end
if now < open_until then return {0, 0} end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return {2, 0} end
return {0, 0}
"""

# KEYS: fails, open_until, probe. ARGV: threshold, open_ms, was_probe, ttl_s. → 1 if opened
_FAILURE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[3] == '1' then
  redis.call('SET', KEYS[2], now + tonumber(ARGV[2]), 'EX', ARGV[4])
  redis.call('DEL', KEYS[1], KEYS[3])
  return 1
end
if now < tonumber(redis.call('GET', KEYS[2]) or '0') then return 0 end
local fails = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if fails >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], now + tonumber(ARGV[2]), 'EX', ARGV[4])
  redis.call('DEL', KEYS[1], KEYS[3])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Admission:
    state: int  # CLOSED, PROBE or OPEN
    fails: int  # consecutive failures seen when admitted (closed only)

    @property
    def allowed(self) -> bool:
        return self.state != OPEN


class Breaker(Protocol):
    def peek(self, provider_id: int) -> Awaitable[Admission | None]:
        """Read-only: the admission of a closed breaker, None when `admit` must decide
        (open or half-open). Safe to run before the request is known to go ahead. The read
        is issued when called (so it leaves with the reservation made next); await the
        result, on every path, once the reservation is answered."""
        ...

    async def admit(self, provider_id: int) -> Admission: ...

    async def record(self, provider_id: int, admission: Admission, *, ok: bool) -> bool:
        """Report an admitted call's outcome; True when this failure opened the breaker."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failures: int
    open_seconds: float
    probe_seconds: float  # how long a probe may take before another one is let through


class RedisBreaker:
    def __init__(self, redis: RespClient, settings: BreakerSettings) -> None:
        # The counter store's lean client and connection: a peek and the reservation after it
        # leave in one write and come back in one read.
        self._redis = redis
        self._admit = Script(self._redis, _ADMIT)
        self._failure = Script(self._redis, _FAILURE)
        self._s = settings

    @staticmethod
    def _keys(provider_id: int) -> list[str]:
        return [
            keys.breaker_fails(provider_id),
            keys.breaker_open_until(provider_id),
            keys.breaker_probe(provider_id),
        ]

    def peek(self, provider_id: int) -> Awaitable[Admission | None]:
        # What _ADMIT reads when the breaker is closed, without its probe side effect.
        command = ("MGET", keys.breaker_fails(provider_id), keys.breaker_open_until(provider_id))
        return self._peeked(self._redis.submit(*command) or self._redis.execute(*command))

    @staticmethod
    async def _peeked(reply: Awaitable[Any]) -> Admission | None:
        try:
            fails, open_until = await reply
        except RedisError:
            return None  # admit decides (and logs)
        if int(open_until or 0) == 0:
            return Admission(CLOSED, int(fails or 0))
        return None

    async def admit(self, provider_id: int) -> Admission:
        probe_ms = max(1, math.ceil(self._s.probe_seconds * 1000))
        try:
            state, fails = await self._admit(keys=self._keys(provider_id), args=[probe_ms])
        except RedisError as exc:
            log.warning(
                "breaker state of provider %s unreadable, treated as closed: %s", provider_id, exc
            )
            return Admission(CLOSED, 0)
        return Admission(int(state), int(fails))

    async def record(self, provider_id: int, admission: Admission, *, ok: bool) -> bool:
        names = self._keys(provider_id)
        try:
            if ok:
                if admission.state == PROBE:
                    await self._redis.execute("DEL", *names)
                elif admission.fails:
                    await self._redis.execute("DEL", names[0])
                return False
            args = [
                self._s.failures,
                max(1, math.ceil(self._s.open_seconds * 1000)),
                "1" if admission.state == PROBE else "0",
                math.ceil(self._s.open_seconds) + KEY_TTL_SECONDS,
            ]
            opened = bool(await self._failure(keys=names, args=args))
        except RedisError as exc:
            log.warning("breaker of provider %s not updated: %s", provider_id, exc)
            return False
        if opened:
            log.warning("circuit of provider %s opened", provider_id)
        return opened

    async def aclose(self) -> None:
        return None  # the connection is the counter store's; it closes it


class MemoryBreaker:
    """The same state machine for one process (embedded mode)."""

    def __init__(self, settings: BreakerSettings) -> None:
        self._s = settings
        self._fails: dict[int, int] = {}
        self._open_until: dict[int, float] = {}
        self._probe_until: dict[int, float] = {}

    async def peek(self, provider_id: int) -> Admission | None:
        if provider_id in self._open_until:
            return None
        return Admission(CLOSED, self._fails.get(provider_id, 0))

    async def admit(self, provider_id: int) -> Admission:
        now = time.monotonic()
        open_until = self._open_until.get(provider_id)
        if open_until is None:
            return Admission(CLOSED, self._fails.get(provider_id, 0))
        if now < open_until or now < self._probe_until.get(provider_id, 0.0):
            return Admission(OPEN, 0)
        self._probe_until[provider_id] = now + self._s.probe_seconds
        return Admission(PROBE, 0)

    def _open(self, provider_id: int, now: float) -> bool:
        self._open_until[provider_id] = now + self._s.open_seconds
        self._fails.pop(provider_id, None)
        self._probe_until.pop(provider_id, None)
        return True

    async def record(self, provider_id: int, admission: Admission, *, ok: bool) -> bool:
        now = time.monotonic()
        if ok:
            if admission.state == PROBE:
                self._open_until.pop(provider_id, None)
                self._probe_until.pop(provider_id, None)
            self._fails.pop(provider_id, None)
            return False
        if admission.state == PROBE:
            return self._open(provider_id, now)
        if now < self._open_until.get(provider_id, 0.0):
            return False
        fails = self._fails[provider_id] = self._fails.get(provider_id, 0) + 1
        return self._open(provider_id, now) if fails >= self._s.failures else False

    async def aclose(self) -> None:
        return None


def build_breaker(redis: RespClient | None, settings: BreakerSettings) -> Breaker:
    """On the counter store's Redis client when it has one, else in memory (embedded)."""
    return RedisBreaker(redis, settings) if redis is not None else MemoryBreaker(settings)
