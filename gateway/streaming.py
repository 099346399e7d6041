"""Relaying a streamed answer event by event, without buffering the whole answer.

The response starts with the first complete upstream event, so an upstream that
fails before sending anything still gets a clean 502/504. After that, failures
end the stream with an in-stream error event. A client that disconnects (even
before the first event) cancels the upstream call; it is charged the prompt and
what was streamed so far (the provider's usage when it arrived, else estimated).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from gateway.charges import tokens_to_charge
from gateway.context import RequestContext
from gateway.errors import Denial, upstream_error, upstream_timeout
from gateway.pii_restore import ReplyRestore
from gateway.plain import upstream_refusal
from gateway.providers.base import ProviderAdapter, StreamDecoder, UpstreamCall, UpstreamGarbage
from gateway.responses import JSON_TYPE, NO_CACHE, SSE_TYPE, Header, Send
from gateway.specs import EndpointSpec, ParsedRequest
from gateway.upstream import open_response
from governance.snapshot import RouteTarget

Receive = Callable[[], Awaitable[dict[str, Any]]]


class _Relay:
    """The upstream side of a stream: open the call, then relay event by event."""

    def __init__(self, send: Send, headers: list[Header], decoder: StreamDecoder) -> None:
        self.send = send
        self.headers = headers
        self.decoder = decoder
        self.started = False
        self.response: aiohttp.ClientResponse | None = None

    async def _emit(self, data: bytes) -> None:
        if not self.started:
            self.started = True
            await self.send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def run(
        self,
        session: aiohttp.ClientSession,
        call: UpstreamCall,
        adapter: ProviderAdapter,
        retries: int,
    ) -> None:
        response = self.response = await open_response(session, call, retries)
        if response.status >= 400:
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError):
                raw = b""
            raise upstream_refusal(adapter, response.status, raw)
        async for chunk in response.content.iter_any():
            data = self.decoder.feed(chunk)
            if data:
                await self._emit(data)
        tail = self.decoder.finish()
        if tail:
            await self._emit(tail)
        if not self.decoder.complete:
            raise upstream_error("The provider's stream ended without its end marker.")

    def close(self) -> None:
        if self.response is not None:
            if self.decoder.complete:
                self.response.release()
            else:
                self.response.close()


def _as_denial(exc: BaseException) -> Denial:
    if isinstance(exc, Denial):
        return exc
    if isinstance(exc, TimeoutError):
        return upstream_timeout("The provider stopped streaming (timeout).")
    if isinstance(exc, UpstreamGarbage):
        return upstream_error(f"The provider's stream could not be read: {exc}")
    return upstream_error("The provider's stream was cut short.")


async def _until_disconnect(work: Awaitable[None], receive: Receive) -> bool:
    """Run `work` in this task; True when the client disconnected first (`work` is then
    cancelled). Only the watch on `receive` is a task of its own: the relay starts at once,
    without a hop through the event loop to the first upstream byte."""
    task = asyncio.current_task()
    assert task is not None
    watching = True
    gone = False

    def client_left(watch: asyncio.Future[Any]) -> None:
        nonlocal gone
        if watching and not watch.cancelled():  # after the body, only a disconnect comes
            gone = True
            task.cancel()

    watch = asyncio.ensure_future(receive())
    watch.add_done_callback(client_left)
    try:
        await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()  # our own cancellation, handled here: the request goes on to settle
    finally:
        watching = False
        watch.cancel()  # a pending receive() only waits: cancelled, it consumes nothing
    return gone


async def forward_stream(
    *,
    session: aiohttp.ClientSession,
    adapter: ProviderAdapter,
    target: RouteTarget,
    spec: EndpointSpec,
    request: ParsedRequest,
    ctx: RequestContext,
    receive: Receive,
    send: Send,
    headers: list[Header],
    retries: int,
    restore: ReplyRestore | None = None,
) -> tuple[int, int]:
    """Stream the answer to the client; returns the (prompt, completion) tokens to charge.
    `restore` puts tokenized PII back (gateway.pii_restore)."""
    decoder = adapter.stream_decoder(spec, request)
    if restore is not None:
        decoder = restore.wrap(decoder)
    # A step may have set its own cache-control (tokenize mode: no-store).
    cache = [] if any(name == b"cache-control" for name, _ in headers) else [NO_CACHE]
    # Gemini clients that did not ask for SSE get Gemini's streamed JSON array.
    kind = SSE_TYPE if spec.sse else JSON_TYPE
    relay = _Relay(send, [kind, *cache, *headers], decoder)
    call = adapter.build_call(target, spec, request)
    try:
        gone = await _until_disconnect(relay.run(session, call, adapter, retries), receive)
    except (Denial, TimeoutError, UpstreamGarbage, aiohttp.ClientError) as exc:
        denial = _as_denial(exc)
        if not relay.started:
            raise denial from None  # nothing sent yet: a clean error answer, nothing charged
        ctx.decision, ctx.reason = denial.decision, denial.reason
        error = decoder.error_event(
            code=denial.code, message=denial.message, request_id=ctx.request_id
        )
        await send({"type": "http.response.body", "body": error, "more_body": False})
    else:
        if gone:
            ctx.reason = "client_disconnected"
        elif not relay.started:
            raise upstream_error("The provider sent an empty stream.")
        else:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        relay.close()
    return tokens_to_charge(request, decoder.usage, decoder.output_bytes)
