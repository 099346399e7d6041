"""Splits ASGI traffic between the gateway (LLM calls) and Django/channels.

HTTP under /v1/ and /v1beta/ (and the lifespan) goes to the gateway; other HTTP to Django;
websockets (the dashboards' live feed) through origin and session checks to channels.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from audit.routing import websocket_urlpatterns
from gateway.app import build_gateway

GATEWAY_PREFIXES = ("/v1/", "/v1beta/")


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


def same_origin(scope: dict) -> bool:
    """The handshake comes from this site's own pages (or a CSRF-trusted origin).

    Browsers always send Origin on websocket handshakes and the session cookie rides along,
    so without this check any web page could open a feed in its visitor's name. The Host
    must also be one Django would serve (ALLOWED_HOSTS), as for HTTP requests.
    """
    host, origin = _header(scope, b"host"), _header(scope, b"origin")
    domain, _port = split_domain_port(host)
    if not origin or not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = urlsplit(origin)
    return parsed.scheme in {"http", "https"} and parsed.netloc == host


class SameOriginValidator:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)


def build_application(django_app):
    gateway = build_gateway()
    django_side = ProtocolTypeRouter(
        {
            "http": django_app,
            "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )

    async def application(scope, receive, send):
        if (scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIXES)) or scope[
            "type"
        ] == "lifespan":
            await gateway(scope, receive, send)
        else:
            await django_side(scope, receive, send)

    return application
