"""REST surfaces for the audit trail: list, streamed export, chain verification."""

# No `from __future__ import annotations` here: django-ninja resolves the parameter
# annotations of paginated views in ninja's own module, where string names fail.

from typing import Literal

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from ninja import Router
from ninja.pagination import paginate

from audit.constants import EventKind
from audit.export import FORMATS, export_lines
from audit.models import AuditEvent
from audit.schemas import AuditEventOut, ChainVerdict
from audit.services import ChainReport, verify_chain
from candela.api_auth import actor_of, require_operator, scope, visible_tenant
from candela.api_pagination import Pagination
from candela.api_types import Filter, Text, UtcDateTime

router = Router(tags=["audit"])


def _events(
    request: HttpRequest,
    kind: EventKind | None,
    since: UtcDateTime | None,
    action: str | None,
    tenant: str | None,
) -> QuerySet[AuditEvent]:
    actor = actor_of(request)
    events = scope(AuditEvent.objects.all(), actor, "tenant_id")
    if tenant:
        events = events.filter(tenant_id=visible_tenant(actor, tenant).pk)
    if kind:
        events = events.filter(kind=kind.value)
    if since:
        events = events.filter(created_at__gte=since)
    if action:
        events = events.filter(action=action)
    return events


@router.get("", response=list[AuditEventOut])
@paginate(Pagination)
def list_events(
    request: HttpRequest,
    kind: Filter[EventKind] = None,
    since: Filter[UtcDateTime] = None,
    action: Text | None = None,
    tenant: Text | None = None,
):
    """Newest first; tenant admins see their tenant's events only."""
    return _events(request, kind, since, action, tenant).order_by("-id")


@router.get("/export", response={200: None})
def export_events(
    request: HttpRequest,
    format: Literal["jsonl", "csv"] = "jsonl",
    kind: Filter[EventKind] = None,
    since: Filter[UtcDateTime] = None,
    action: Text | None = None,
    tenant: Text | None = None,
):
    """A streamed download, oldest first (chain order)."""
    events = _events(request, kind, since, action, tenant)
    response = StreamingHttpResponse(export_lines(events, format), content_type=FORMATS[format])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="candela-audit-{stamp}.{format}"'
    return response


@router.get("/verify", response=ChainVerdict)
def verify(request: HttpRequest) -> ChainReport:
    """Recompute the whole hash chain (operators)."""
    require_operator(request)
    return verify_chain()
