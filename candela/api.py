"""The management REST API: each app's router assembled under /api/v1."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="Candela management API", version="1", urls_namespace="api")
