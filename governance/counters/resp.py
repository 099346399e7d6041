"""A lean Redis client for the gateway's per-request scripts: one pipelined connection.

redis-py's asyncio client spends more CPU around a command than Redis spends running
the counter scripts (pool checkout under a condition and a timeout, a health-check read,
retry and observability layers, command packing in Python). The gateway runs two or
three small scripts per request, so they go through this instead: commands are packed
by hiredis and written to one connection as they come, commands issued in the same
event-loop turn leave in one write, and replies are parsed by hiredis and matched in
order. Under concurrency that is one write and one read for many commands.

Errors are redis-py's exception types (`redis.exceptions.RedisError` subclasses), so
callers handle both clients alike: its `ConnectionError` when the server cannot be reached
or the connection dropped, `TimeoutError` when a reply is overdue (the connection is
then dropped, failing every command still waiting on it: a reply could no longer be
matched), `ResponseError` for an error reply. A command is never sent twice here;
`Script` retries once on a dropped connection because its callers' scripts are
idempotent.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from typing import Any

import hiredis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | bytes | int | float


class _Link(asyncio.Protocol):
    """One connection: writes packed commands, hands replies to waiters in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = self._loop = loop
        self._timeout = timeout
        self._reader = hiredis.Reader(replyError=ResponseError, protocolError=RedisConnectionError)
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._outgoing: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        try:
            while waiting:
                reply = self._reader.gets()
                if reply is False:
                    break
                future, _ = waiting.popleft()
                if not future.done():  # a cancelled caller still had its reply in line
                    future.set_result(reply)
        except RedisConnectionError as exc:  # unparseable bytes: nothing after them can be matched
            self.abort(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed by the server'}"))

    # -- commands
    def send(self, packed: bytes, *, cork: bool = False) -> asyncio.Future[Any]:
        """Queue one command; `cork` holds it for the commands issued later in this loop turn
        even when nothing else is in flight (they leave in one write)."""
        if self.closed:
            raise RedisConnectionError("Redis connection is closed")
        future = self._loop.create_future()
        idle = not self._waiting
        self._waiting.append((future, self._loop.time()))
        if idle and not cork and self._transport is not None:
            self._transport.write(packed)  # nothing in flight: no write to share, no delay
        else:
            if not self._outgoing:
                self._loop.call_soon(self._flush)
            self._outgoing.append(packed)
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._check)
        return future

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self._transport is not None and not self.closed:
            self._transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))

    def _check(self) -> None:
        """Overdue replies fail everything waiting: one timer per connection, not per call."""
        self._watchdog = None
        if not self._waiting:
            return
        overdue_at = self._waiting[0][1] + self._timeout
        if self._loop.time() >= overdue_at:
            self.abort(RedisTimeoutError(f"Redis did not answer within {self._timeout:g} s"))
        else:
            self._watchdog = self._loop.call_at(overdue_at, self._check)

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(exc)

    def abort(self, exc: Exception) -> None:
        self._fail(exc)
        if self._transport is not None:
            self._transport.abort()


class RespClient:
    """Commands on one lazily (re)opened connection; see the module docstring."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        params = parse_url(url)
        self._where = (
            params.get("path") or f"{params.get('host', 'localhost')}:{params.get('port', 6379)}"
        )
        self._params = params
        self._timeout = timeout
        self._link: _Link | None = None
        self._opening: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _live_link(self) -> _Link | None:
        """The open connection of this event loop, if there is one."""
        link = self._link
        if link is None or link.closed or link.loop is not asyncio.get_running_loop():
            return None
        return link

    async def execute(self, *args: Arg) -> Any:
        link = self._live_link() or await self._connected()
        reply = await link.send(hiredis.pack_command(args))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def submit(self, *args: Arg) -> asyncio.Future[Any] | None:
        """Issue a command now without waiting for it: it leaves in one write with the
        commands issued after it in this loop turn. The future holds the raw reply (an error
        reply as a ResponseError value). None when not connected: use `execute` instead."""
        link = self._live_link()
        return None if link is None else link.send(hiredis.pack_command(args), cork=True)

    async def _connected(self) -> _Link:
        loop = asyncio.get_running_loop()
        if self._opening is None or self._opening[0] is not loop:
            self._opening = (loop, asyncio.Lock())
        async with self._opening[1]:  # one connect, however many commands wait for it
            link = self._link
            if link is None or link.closed or link.loop is not loop:
                link = self._link = await self._open(loop)
        return link

    def _tls(self) -> ssl.SSLContext | None:
        if self._params.get("connection_class") is not SSLConnection:
            return None
        context = ssl.create_default_context()
        if self._params.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Link:
        params = self._params
        link = _Link(loop, self._timeout)
        try:
            async with asyncio.timeout(self._timeout):
                if params.get("path"):
                    await loop.create_unix_connection(lambda: link, params["path"])
                else:
                    host, port = params.get("host", "localhost"), int(params.get("port", 6379))
                    await loop.create_connection(lambda: link, host, port, ssl=self._tls())
                password, username = params.get("password"), params.get("username")
                if password is not None:
                    await self._setup(link, "AUTH", *((username,) if username else ()), password)
                if params.get("db"):
                    await self._setup(link, "SELECT", int(params["db"]))
        except (OSError, TimeoutError, RedisTimeoutError) as exc:  # TimeoutError: asyncio's
            link.abort(RedisConnectionError("setup failed"))
            raise RedisConnectionError(
                f"cannot connect to Redis at {self._where}: {exc!r}"
            ) from exc
        except (ResponseError, RedisConnectionError):
            link.abort(RedisConnectionError("setup failed"))
            raise
        return link

    @staticmethod
    async def _setup(link: _Link, *args: Arg) -> None:
        reply = await link.send(hiredis.pack_command(args))
        if isinstance(reply, ResponseError):
            raise reply

    async def aclose(self) -> None:
        link, self._link = self._link, None
        if link is not None and not link.closed:
            link.abort(RedisConnectionError("client closed"))
            if link.loop is asyncio.get_running_loop():
                await asyncio.sleep(0)  # the transport closes on the next loop turn


class Script:
    """A Lua script run by EVALSHA, loaded again when the server answers NOSCRIPT."""

    def __init__(self, client: RespClient, source: str) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, keys: list[str], args: list[Arg]) -> Any:
        command = ("EVALSHA", self._sha, len(keys), *keys, *args)
        try:
            return await self._run(command)
        except RedisConnectionError:
            # A connection the server had closed (idle, restart): once more on a new one.
            return await self._run(command)

    async def _run(self, command: tuple[Arg, ...]) -> Any:
        try:
            return await self._client.execute(*command)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self._client.execute("SCRIPT", "LOAD", self._source)
        return await self._client.execute(*command)
