"""Splits ASGI traffic between the gateway (LLM calls) and Django/channels."""

from __future__ import annotations

from channels.routing import ProtocolTypeRouter

from gateway.app import build_gateway

GATEWAY_PREFIXES = ("/v1/", "/v1beta/")


def build_application(django_app):
    gateway = build_gateway()
    django_side = ProtocolTypeRouter({"http": django_app})

    async def application(scope, receive, send):
        if (scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIXES)) or scope[
            "type"
        ] == "lifespan":
            await gateway(scope, receive, send)
        else:
            await django_side(scope, receive, send)

    return application
