"""ASGI entry: `/v1/*` and `/v1beta/*` go to the gateway, everything else to Django/channels."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candela.settings")

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

from candela.routing import build_application  # noqa: E402

application = build_application(django_app)
