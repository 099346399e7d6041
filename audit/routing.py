"""Websocket routes of the audit app (assembled in candela/routing.py)."""

from __future__ import annotations

from django.urls import path

from audit.consumers import FeedConsumer

websocket_urlpatterns = [
    path("ws/feed/", FeedConsumer.as_asgi()),
]
