"""Runs the ASGI app under uvicorn; shared by `candela up` and `candela-server`."""

from __future__ import annotations

import contextlib
import importlib.util

import uvicorn
from django.conf import settings

APP = "candela.asgi:application"


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _ensure_static_root() -> None:
    """Static files are served from the apps (WhiteNoise finders); an existing
    STATIC_ROOT only keeps WhiteNoise from warning about a missing directory."""
    # On a read-only file system the directory cannot exist; the warning is harmless.
    with contextlib.suppress(OSError):
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)


def serve(*, host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    """Serve until interrupted. Several workers are separate processes (uvicorn's
    supervisor), so they share nothing but the database and Redis."""
    _ensure_static_root()
    uvicorn.run(
        APP,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        loop="uvloop" if _available("uvloop") else "asyncio",
        http="httptools" if _available("httptools") else "h11",
        lifespan="on",
        access_log=access_log,
        # Behind a load balancer, FORWARDED_ALLOW_IPS (read by uvicorn) names the
        # proxies whose X-Forwarded-For is trusted.
        proxy_headers=True,
        server_header=False,
    )
