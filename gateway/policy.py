"""The current policy snapshot of this process, and the watcher that refreshes it.

The watcher reads the policy version every `CANDELA_POLICY_REFRESH_SECONDS`:
the Redis key `candela:policy:version` (shared by every process), or the
in-process counter in embedded mode. Any change of the value (a flushed Redis
too) recompiles the snapshot on a worker thread and swaps it in atomically.
Fail-closed: no snapshot yet, or a snapshot known to be out of date for longer
than `POLICY_MAX_STALE_SECONDS`, answers 503 `governance_unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis
from django.db import DatabaseError, InterfaceError, close_old_connections, connections
from redis.exceptions import RedisError

from gateway.config import GatewayConfig
from gateway.errors import governance_unavailable
from governance.policy_bus import POLICY_VERSION_KEY, local_policy_version
from governance.snapshot import PolicySnapshot, compile_snapshot

log = logging.getLogger(__name__)
REDIS_TIMEOUT_SECONDS = 1.0
FIRST_LOAD_WAIT_SECONDS = 10.0


def _compile(version: int) -> PolicySnapshot:
    close_old_connections()
    return compile_snapshot(version=version)


class PolicyHolder:
    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self.snapshot: PolicySnapshot | None = None
        self._stale_since: float | None = None
        self._redis: aioredis.Redis | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    def current(self) -> PolicySnapshot:
        snapshot = self.snapshot
        if snapshot is None:
            raise governance_unavailable("The policy is not loaded; the request was not forwarded.")
        stale = self._stale_since
        if stale is not None and time.monotonic() - stale > self._config.policy_max_stale_seconds:
            raise governance_unavailable(
                "The policy cannot be refreshed; the request was not forwarded."
            )
        return snapshot

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="candela-policy")
        if self._config.redis_url:
            self._redis = aioredis.Redis.from_url(
                self._config.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        first = asyncio.Event()
        self._task = asyncio.create_task(self._watch(first), name="candela-policy-watcher")
        # Wait a bounded time for the first snapshot, so an unreachable database delays
        # startup but never blocks it (requests get 503 until the snapshot loads).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), FIRST_LOAD_WAIT_SECONDS)

    async def _version(self) -> int:
        if self._redis is None:
            return local_policy_version()
        value = await self._redis.get(POLICY_VERSION_KEY)
        return int(value or 0)

    def _mark_stale(self) -> None:
        if self._stale_since is None:
            self._stale_since = time.monotonic()

    async def refresh(self) -> None:
        try:
            version = await self._version()
        except (RedisError, ValueError) as exc:
            log.warning("policy version unreadable: %s", exc)
            self._mark_stale()
            return
        if self.snapshot is not None and self.snapshot.version == version:
            self._stale_since = None
            return
        loop = asyncio.get_running_loop()
        try:
            snapshot = await loop.run_in_executor(self._executor, _compile, version)
        except (DatabaseError, InterfaceError) as exc:
            log.warning("policy snapshot cannot be compiled: %s", exc)
            self._mark_stale()
            return
        self.snapshot = snapshot
        self._stale_since = None

    async def _watch(self, first: asyncio.Event) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                # The watcher must outlive any surprise; the snapshot ages into 503s meanwhile.
                log.exception("policy refresh failed")
                self._mark_stale()
            first.set()
            await asyncio.sleep(self._config.policy_refresh_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()
        if self._executor is not None:
            self._executor.submit(connections.close_all)
            self._executor.shutdown(wait=True)
