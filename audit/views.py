"""The live feed's HTTP side: the newest request rows, for a first render or a catch-up.

The websocket (audit/consumers.py) pushes rows as they happen; after a reconnect the
dashboard reloads this fragment so rows published while it was away are not missing.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.live import recent_items
from tenants.decorators import staff_page


@staff_page
def feed_rows(request: HttpRequest) -> HttpResponse:
    tenant = request.page_tenant  # type: ignore[attr-defined]
    items = recent_items(tenant.pk if tenant else None)
    return render(request, "dashboard/_feed_rows.html", {"feed": items})
