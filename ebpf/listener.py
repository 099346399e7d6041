"""The SNI listener behind the iptables redirect (`candela ebpf listen`).

Every outbound TCP 443 connection of a non-Candela process lands here. The
listener peeks at the ClientHello (nothing is consumed) and then:

- server name of an LLM provider (`HostDirectory`): terminates TLS with a leaf
  minted for that name by Candela's CA and serves the decrypted HTTP/1.1 with
  the Candela ASGI app, so the request runs the full governance pipeline;
- anything else (unknown name, no SNI, not TLS): refused (a TLS
  `unrecognized_name` alert, then close), or with CANDELA_SNI_UNKNOWN=passthrough
  spliced untouched to its original destination (SO_ORIGINAL_DST) — never to an
  address of a provider host, and never back to the listener itself.

HTTP is served by uvicorn's own protocol classes; only accepting is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import uvicorn
from django.db import DatabaseError, close_old_connections

from ebpf.clienthello import MAX_HELLO_BYTES, NeedMoreData, NotClientHello, server_name
from ebpf.hosts import HostDirectory, HostRoute, is_ip_literal, load_directory
from ebpf.intercepted import InterceptedApp
from ebpf.passthrough import original_destination, splice
from ebpf.tls import LeafContexts

log = logging.getLogger("candela.ebpf.listener")

# TLS alert record: fatal (2) unrecognized_name (112).
UNRECOGNIZED_NAME_ALERT = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70])
STARTUP_FAILURE = 3


@dataclass(frozen=True)
class ListenerOptions:
    listen: tuple[str, ...] = ("127.0.0.1", "::1")
    port: int = 8443
    unknown: str = "refuse"  # or "passthrough"
    hello_timeout: float = 5.0
    handshake_timeout: float = 10.0
    connect_timeout: float = 10.0
    refresh_seconds: float = 30.0


class ListenerError(Exception):
    """The listener cannot start; the message says why."""


def _canonical_ip(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.compressed


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def peek_server_name(sock: socket.socket) -> str | None:
    """The ClientHello's server name, read with MSG_PEEK so the stream stays intact.

    Raises NotClientHello when the client speaks something else or hangs up.
    """
    seen = -1
    while True:
        await _readable(sock)
        try:
            data = sock.recv(MAX_HELLO_BYTES, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        if not data:
            raise NotClientHello("client closed before sending a ClientHello")
        try:
            return server_name(data)
        except NeedMoreData:
            if len(data) == seen:
                # Readable, but nothing new since the last peek: the rest is in flight.
                await asyncio.sleep(0.01)
            seen = len(data)


class _Acceptor:
    """Accepts on one listening socket; looks like an asyncio Server to uvicorn."""

    def __init__(self, sock: socket.socket, handle, on_fatal) -> None:
        self.sock = sock
        self._handle = handle
        self._pending: set[asyncio.Task[None]] = set()
        self._task = asyncio.get_running_loop().create_task(self._accept_forever())
        self._task.add_done_callback(lambda task: task.cancelled() or on_fatal(task.exception()))

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.error("accept failed (%s); pausing for a moment", exc)
                    await asyncio.sleep(0.1)
                    continue
                raise
            conn.setblocking(False)
            task = loop.create_task(self._handle(conn))
            self._pending.add(task)
            task.add_done_callback(functools.partial(self._finished, conn))

    def _finished(self, conn: socket.socket, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Never lose a failure silently, and never leak the client's socket.
            log.error("connection handling failed", exc_info=task.exception())
            conn.close()

    def close(self) -> None:
        self._task.cancel()
        for task in list(self._pending):
            task.cancel()
        self.sock.close()

    async def wait_closed(self) -> None:
        await asyncio.gather(self._task, *self._pending, return_exceptions=True)


class SniServer(uvicorn.Server):
    """uvicorn's server lifecycle (signals, lifespan, graceful shutdown) with our accept path."""

    def __init__(self, config: uvicorn.Config, *, options: ListenerOptions, contexts: LeafContexts):
        super().__init__(config)
        self.options = options
        self.contexts = contexts
        self.directory = HostDirectory.build([])
        self.guarded: frozenset[str] = frozenset()
        self.local_addresses: set[tuple[str, int]] = set()
        self._refresher: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            raise SystemExit(STARTUP_FAILURE)
        try:
            listeners = await self._prepare()
        except ListenerError:
            await self.lifespan.shutdown()
            raise
        self.servers = [  # type: ignore[misc]
            _Acceptor(sock, self._handle, self._accept_failed) for sock in listeners
        ]
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())
        names = ", ".join(_format_address(sock.getsockname()) for sock in listeners)
        log.info(
            "Candela SNI listener on %s (%d provider hosts; unknown hosts: %s)",
            names,
            len(self.directory.routes),
            self.options.unknown,
        )
        self.started = True

    async def _prepare(self) -> list[socket.socket]:
        try:
            self.directory = await asyncio.to_thread(_load_directory)
        except DatabaseError as exc:
            raise ListenerError(f"cannot read providers from the database: {exc}") from exc
        await self._resolve_guarded()
        probe = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        if not hasattr(probe, "app"):
            raise ListenerError("this uvicorn's HTTP protocol has no per-connection app")
        return self._bind_all()

    def _accept_failed(self, exc: BaseException | None) -> None:
        log.error("the listening socket failed; shutting down", exc_info=exc)
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        await super().shutdown(sockets=sockets)

    def _bind_all(self) -> list[socket.socket]:
        bound = []
        for host in self.options.listen:
            try:
                sock = _bind(host, self.options.port)
            except OSError as exc:
                if ":" in host and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    log.warning("IPv6 unavailable, not listening on [%s]: %s", host, exc)
                    continue
                for sock in bound:
                    sock.close()
                raise ListenerError(f"cannot listen on {host}:{self.options.port}: {exc}") from exc
            bound.append(sock)
            name = sock.getsockname()
            self.local_addresses.add((_canonical_ip(name[0]), name[1]))
        if not bound:
            raise ListenerError("no address to listen on")
        return bound

    # -- provider hosts ------------------------------------------------------------

    async def refresh(self) -> None:
        try:
            self.directory = await asyncio.to_thread(_load_directory)
        except DatabaseError as exc:
            log.warning("provider hosts not refreshed, keeping the last list: %s", exc)
            return
        await self._resolve_guarded()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.refresh_seconds)
            await self.refresh()

    async def _resolve_guarded(self) -> None:
        """Addresses of provider hosts: passthrough never splices to these."""
        if self.options.unknown != "passthrough":
            return
        hosts = self.directory.hosts
        resolved = await asyncio.gather(*(_addresses(h) for h in hosts))
        literal = {_canonical_ip(h) for h in hosts if is_ip_literal(h)}
        self.guarded = frozenset(literal.union(*resolved))

    # -- one connection ------------------------------------------------------------

    async def _handle(self, conn: socket.socket) -> None:
        try:
            async with asyncio.timeout(self.options.hello_timeout):
                name: str | None = await peek_server_name(conn)
            tls = True
        except (NotClientHello, TimeoutError, ConnectionError, OSError):
            name, tls = None, False
        route = self.directory.lookup(name)
        if route is not None:
            await self._intercept(conn, route)
        elif self.options.unknown == "passthrough":
            await self._pass_through(conn, name, tls)
        else:
            self._refuse(conn, name, tls, "unknown host")

    async def _intercept(self, conn: socket.socket, route: HostRoute) -> None:
        loop = asyncio.get_running_loop()
        context = self.contexts.for_host(route.host)
        try:
            await loop.connect_accepted_socket(
                lambda: self._protocol(route),
                conn,
                ssl=context,
                ssl_handshake_timeout=self.options.handshake_timeout,
            )
        except (ConnectionError, OSError, TimeoutError) as exc:
            # Typically a client that does not trust Candela's CA.
            log.warning("TLS handshake for %s failed: %s", route.host, exc)
            conn.close()

    def _protocol(self, route: HostRoute) -> asyncio.Protocol:
        protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        protocol.app = InterceptedApp(self.config.loaded_app, route)  # type: ignore[attr-defined]
        return protocol

    async def _pass_through(self, conn: socket.socket, name: str | None, tls: bool) -> None:
        destination = original_destination(conn)
        if destination is None:
            self._refuse(conn, name, tls, "no original destination")
            return
        address = (_canonical_ip(destination[0]), destination[1])
        if address in self.local_addresses:
            self._refuse(conn, name, tls, "connection made to the listener itself")
            return
        if address[0] in self.guarded:
            self._refuse(conn, name, tls, f"{address[0]} is a provider address")
            return
        log.info("passing %s through to %s", name or "(no server name)", _format_address(address))
        try:
            await splice(conn, destination, timeout=self.options.connect_timeout)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning("passthrough to %s failed: %s", _format_address(address), exc)
            conn.close()

    def _refuse(self, conn: socket.socket, name: str | None, tls: bool, why: str) -> None:
        destination = original_destination(conn)
        log.warning(
            "refused connection to %s (server name %s): %s",
            _format_address(destination) if destination else "?",
            name or "none",
            why,
        )
        with contextlib.suppress(OSError):
            # Consume what was only peeked: closing with unread bytes would send a
            # RST that can overtake the alert.
            conn.recv(MAX_HELLO_BYTES)
            if tls:
                conn.send(UNRECOGNIZED_NAME_ALERT)
        conn.close()


def _load_directory() -> HostDirectory:
    # Runs in a worker thread: drop connections the database has timed out.
    close_old_connections()
    try:
        return load_directory()
    finally:
        close_old_connections()


async def _addresses(host: str) -> set[str]:
    if is_ip_literal(host):
        return set()
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, 443, type=socket.SOCK_STREAM), 5)
    except (OSError, TimeoutError):
        return set()  # unresolvable here: nothing to guard for this name right now
    return {_canonical_ip(info[4][0]) for info in infos}


def _format_address(address: Iterable) -> str:
    host, port = tuple(address)[:2]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def build_server(
    *, app: str, options: ListenerOptions, contexts: LeafContexts, access_log: bool = False
) -> SniServer:
    import importlib.util

    def available(module: str) -> bool:
        return importlib.util.find_spec(module) is not None

    config = uvicorn.Config(
        app,
        loop="uvloop" if available("uvloop") else "asyncio",
        http="httptools" if available("httptools") else "h11",
        lifespan="on",
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
    )
    return SniServer(config, options=options, contexts=contexts)
