"""The attempt loop: try the candidate routes in order until one serves.

A route is skipped while its provider's circuit is open (gateway.breaker). A
failed attempt (5xx, 429, timeout, connection error, unreadable answer; see
`Denial.failover`) is counted by the breaker, charged nothing, noted in
`ctx.attempts` and followed by the next try: the same route again after a short
jittered backoff for 5xx-like failures (up to `CANDELA_UPSTREAM_RETRIES` times),
the next route straight away after a 429 or a timeout (the provider is busy or
already made us wait). `MAX_ATTEMPTS` bounds the whole loop.

Any other answer (success, or a 4xx the provider gave, which is the request's
fault) ends the loop. Once the first byte of a streamed answer went to the
client there is no fallback: a later failure ends that stream with an error
event in the client's format (gateway.streaming) and counts as a breaker failure.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.breaker import Admission, Breaker
from gateway.context import RequestContext
from gateway.errors import Denial, no_provider
from governance.snapshot import RouteTarget

Forward = Callable[[RouteTarget], Awaitable[tuple[int, int]]]

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0


def backoff(retry: int) -> float:
    """Seconds before the `retry`-th retry of one route: exponential, half jittered."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (retry - 1))
    return ceiling * (0.5 + random.random() / 2)


def _retry_same_route(denial: Denial) -> bool:
    return denial.code == "upstream_error" and denial.status != 429


def _note(target: RouteTarget, outcome: str, started: float | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {"provider": target.provider_name, "model": target.model}
    note["outcome"] = outcome
    if started is not None:
        note["ms"] = round((time.perf_counter() - started) * 1000.0)
    return note


class Attempts:
    def __init__(self, *, retries: int) -> None:
        self.retries = retries

    async def run(
        self,
        ctx: RequestContext,
        candidates: tuple[RouteTarget, ...],
        forward: Forward,
        breaker: Breaker,
        first: Admission | None = None,
    ) -> tuple[RouteTarget, tuple[int, int]]:
        """The route that served and the (prompt, completion) tokens to charge for it.
        `first`: the first route's admission when already known (`Breaker.peek`)."""
        last: Denial | None = None
        tries = 0
        for target in candidates:
            for retry in range(self.retries + 1):
                if tries >= MAX_ATTEMPTS:
                    break
                if retry:
                    await asyncio.sleep(backoff(retry))
                if first is not None:
                    admission, first = first, None
                else:
                    admission = await breaker.admit(target.provider_id)
                if not admission.allowed:
                    ctx.attempts.append(_note(target, "circuit_open"))
                    break
                tries += 1
                ctx.route = target
                started = time.perf_counter()
                try:
                    tokens = await forward(target)
                except Denial as denial:
                    # A 4xx from the provider still shows it is up; ours never reach here.
                    await breaker.record(target.provider_id, admission, ok=not denial.failover)
                    ctx.attempts.append(_note(target, denial.reason, started))
                    if not denial.failover:
                        raise
                    last = denial
                    if _retry_same_route(denial):
                        continue
                    break
                ok = ctx.decision != "error"  # a stream that failed after its first byte
                await breaker.record(target.provider_id, admission, ok=ok)
                ctx.attempts.append(_note(target, "ok" if ok else ctx.reason, started))
                return target, tokens
        if last is not None:
            raise last
        names = ", ".join(dict.fromkeys(t.provider_name for t in candidates))
        raise no_provider(
            f"No provider can take the request now: the circuit of {names} is open.",
            reason="circuit_open",
        )
