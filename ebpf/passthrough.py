"""Original destination of a REDIRECTed connection, and splicing it through untouched."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

# <linux/netfilter_ipv4.h> SO_ORIGINAL_DST and <linux/netfilter_ipv6/ip6_tables.h>
# IP6T_SO_ORIGINAL_DST: both 80, at SOL_IP and SOL_IPV6 respectively.
SO_ORIGINAL_DST = 80
SPLICE_CHUNK = 64 * 1024


def original_destination(sock: socket.socket) -> tuple[str, int] | None:
    """Where the client meant to connect before iptables REDIRECT, if the kernel knows."""
    try:
        if sock.family == socket.AF_INET:
            raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            return socket.inet_ntop(socket.AF_INET, raw[4:8]), struct.unpack_from("!H", raw, 2)[0]
        if sock.family == socket.AF_INET6:
            raw = sock.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
            return socket.inet_ntop(socket.AF_INET6, raw[8:24]), struct.unpack_from("!H", raw, 2)[0]
    except OSError:
        # No conntrack entry: the client connected to the listener directly.
        return None
    return None


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(SPLICE_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


async def splice(client: socket.socket, destination: tuple[str, int], *, timeout: float) -> None:
    """Connect to `destination` and copy bytes both ways until both sides close.

    Nothing has been read from `client` yet (the listener only peeked), so the
    destination sees the exact byte stream the client sent.
    """
    up_reader, up_writer = await asyncio.wait_for(
        asyncio.open_connection(destination[0], destination[1]), timeout
    )
    down_reader, down_writer = await asyncio.open_connection(sock=client)
    try:
        await asyncio.gather(_pump(down_reader, up_writer), _pump(up_reader, down_writer))
    finally:
        for writer in (up_writer, down_writer):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
