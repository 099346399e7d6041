"""The gateway's wiring: its steps, its route table, the ASGI callable.

`build_gateway()` does no I/O; the lifespan startup (or the first request, for
servers without lifespan) opens the upstream session, counter store, policy
watcher and recorder. See `gateway.endpoints.inference` for the pipeline order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.attribution import Attribution
from gateway.auth import Authenticator
from gateway.config import GatewayConfig
from gateway.endpoints.anthropic_messages import MESSAGES
from gateway.endpoints.fallback import NotFound
from gateway.endpoints.gemini import GeminiRoutes
from gateway.endpoints.inference import InferenceEndpoint
from gateway.endpoints.models import ModelsEndpoint
from gateway.endpoints.pii_scan import PiiScanEndpoint
from gateway.fallback import Attempts
from gateway.lifespan import serve_lifespan
from gateway.pii_step import PiiStep
from gateway.pipeline import Pipeline
from gateway.providers import build_adapters
from gateway.routing import Router
from gateway.runtime import Runtime
from gateway.specs import CHAT, COMPLETIONS, EMBEDDINGS

ASGIApp = Callable[
    [dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]


def build_gateway(config: GatewayConfig | None = None) -> ASGIApp:
    runtime = Runtime(config or GatewayConfig.from_settings())
    adapters = build_adapters()
    pipeline = Pipeline(
        runtime=runtime,
        authenticate=Authenticator(),
        attribute=Attribution(),
        router=Router(adapters),
        adapters=adapters,
        pii=PiiStep(),
        attempts=Attempts(retries=runtime.config.upstream_retries),
    )
    routes: dict[str, dict[str, ASGIApp]] = {
        CHAT.path: {"POST": InferenceEndpoint(CHAT, pipeline)},
        COMPLETIONS.path: {"POST": InferenceEndpoint(COMPLETIONS, pipeline)},
        EMBEDDINGS.path: {"POST": InferenceEndpoint(EMBEDDINGS, pipeline)},
        MESSAGES.path: {"POST": InferenceEndpoint(MESSAGES, pipeline)},
        "/v1/models": {"GET": ModelsEndpoint(pipeline)},
        "/v1/pii/scan": {"POST": PiiScanEndpoint(pipeline)},
    }
    gemini = GeminiRoutes(pipeline)  # /v1beta/models/{model}:{action}, /v1/models/…
    not_found = NotFound(runtime)
    not_allowed = NotFound(runtime, method_not_allowed=True)

    async def gateway(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(runtime, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets on the gateway's paths; the server closes them
        if not runtime.started:
            await runtime.ensure_started()
        path = scope["path"]
        methods = routes.get(path) or routes.get(path.rstrip("/"))
        if methods is None:
            await (gemini if gemini.matches(path) else not_found)(scope, receive, send)
            return
        endpoint = methods.get(scope["method"])
        await (endpoint or not_allowed)(scope, receive, send)

    return gateway
