"""The lean Redis client under the counter store and the breaker: replies reach the caller
that sent the command, whatever else is in flight, and failures surface as redis-py errors
(so the gateway fails closed) instead of hanging or answering the wrong caller."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from test_counters_support import request

from governance.counters.base import CounterStoreUnavailable
from governance.counters.redis_store import RedisCounterStore
from governance.counters.resp import RespClient, Script


@contextlib.asynccontextmanager
async def client_of(serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]):
    """A RespClient connected to a fake server answering with `serve`."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RespClient(f"redis://127.0.0.1:{port}/0", timeout=1.0)
    try:
        yield client
    finally:
        await client.aclose()
        server.close()


def test_concurrent_commands_each_get_their_own_reply(redis_client):
    async def scenario():
        client = RespClient(settings.REDIS_URL)
        try:
            writes = [client.execute("SET", f"resp:{i}", f"value-{i}") for i in range(200)]
            await asyncio.gather(*writes)
            return await asyncio.gather(*(client.execute("GET", f"resp:{i}") for i in range(200)))
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == [f"value-{i}".encode() for i in range(200)]


def test_a_cancelled_caller_does_not_shift_the_replies_of_the_next(redis_client):
    async def scenario():
        client = RespClient(settings.REDIS_URL)
        try:
            # BLPOP holds the connection's reply for 0.3 s; its caller gives up before then.
            slow = asyncio.ensure_future(client.execute("BLPOP", "resp:nothing", "0.3"))
            await asyncio.sleep(0.05)
            slow.cancel()
            await client.execute("SET", "resp:after", "mine")
            return await client.execute("GET", "resp:after")
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == b"mine"


def test_a_script_unknown_to_the_server_is_loaded_and_run(redis_client):
    # A fresh script body is never in the server's cache: the first EVALSHA answers NOSCRIPT.
    marker = uuid.uuid4().hex

    async def scenario():
        client = RespClient(settings.REDIS_URL)
        try:
            script = Script(client, f"return {{KEYS[1], ARGV[1], '{marker}'}}")
            return await script(["k"], ["a"]), await script(["k2"], ["b"])
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == (
        [b"k", b"a", marker.encode()],
        [b"k2", b"b", marker.encode()],
    )


def test_an_error_reply_is_raised_to_its_caller_only(redis_client):
    async def scenario():
        client = RespClient(settings.REDIS_URL)
        try:
            await client.execute("SET", "resp:text", "not a number")
            bad = client.execute("INCR", "resp:text")
            good = client.execute("INCR", "resp:counter")
            results = await asyncio.gather(bad, good, return_exceptions=True)
            return results
        finally:
            await client.aclose()

    bad, good = asyncio.run(scenario())
    assert isinstance(bad, ResponseError) and good == 1


def test_a_connection_the_server_closed_is_replaced(redis_client):
    async def scenario():
        client, admin = RespClient(settings.REDIS_URL), RespClient(settings.REDIS_URL)
        try:
            first = await client.execute("INCR", "resp:runs")
            await admin.execute("CLIENT", "KILL", "ID", await client.execute("CLIENT", "ID"))
            await asyncio.sleep(0.05)  # the server's close reaches the client
            return first, await client.execute("INCR", "resp:runs")
        finally:
            await client.aclose()
            await admin.aclose()

    assert asyncio.run(scenario()) == (1, 2)


def test_a_script_whose_connection_drops_in_flight_runs_once_more():
    # A fake server: the first connection takes the command and closes without answering
    # (a restart, an idle timeout racing the send); the second one answers.
    commands: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        commands.append(await reader.read(65536))
        if len(commands) > 1:
            writer.write(b":7\r\n")
            await writer.drain()
            await reader.read()  # until the client closes
        writer.close()

    async def scenario():
        async with client_of(serve) as client:
            return await Script(client, "return 7")(["k"], [])

    assert asyncio.run(scenario()) == 7
    assert len(commands) == 2 and all(c.startswith(b"*4\r\n$7\r\nEVALSHA") for c in commands)


def test_a_server_that_stops_answering_times_out_and_fails_closed():
    # Accepts connections, reads nothing, answers nothing.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def scenario():
        client = RespClient(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        store = RedisCounterStore(f"redis://127.0.0.1:{port}/0", socket_timeout=0.3)
        started = time.monotonic()
        try:
            with pytest.raises(RedisTimeoutError):
                await client.execute("PING")
            with pytest.raises(CounterStoreUnavailable):
                await store.reserve(request())
        finally:
            await client.aclose()
            await store.aclose()
        return time.monotonic() - started

    try:
        elapsed = asyncio.run(scenario())
    finally:
        listener.close()
    assert elapsed < 2.0


def test_nothing_listening_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario():
        client = RespClient(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        try:
            await client.execute("PING")
        finally:
            await client.aclose()

    with pytest.raises(RedisConnectionError):
        asyncio.run(scenario())


def test_the_url_selects_the_database(redis_client):
    async def scenario():
        client = RespClient(settings.REDIS_URL)
        try:
            await client.execute("SET", "resp:where", "here")
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert redis_client.get("resp:where") == b"here"  # redis_client is on the same db


def test_a_submitted_command_leaves_in_one_write_with_the_next():
    # The breaker's peek is submitted just before the reservation: one write, one round trip.
    reads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            reads.append(data)
            writer.write(b"".join(b"+%d\r\n" % i for i in range(data.count(b"*1\r\n"))))
            await writer.drain()
        writer.close()

    async def scenario():
        async with client_of(serve) as client:
            assert client.submit("PING") is None  # not connected yet: the caller awaits instead
            await client.execute("PING")
            reads.clear()
            first = client.submit("PING")
            second = await client.execute("PING")
            return await first, second

    assert asyncio.run(scenario()) == (b"0", b"1")
    assert reads == [b"*1\r\n$4\r\nPING\r\n" * 2]
