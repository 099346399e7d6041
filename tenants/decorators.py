"""Page access: who may open a page, and which tenant it shows.

Anonymous visitors go to the login page; a signed-in user without the role gets 403.
Staff pages attach `request.page_tenant`: a tenant admin's own tenant, or for operators
the tenant picked with `?tenant=<slug>` (None: the whole platform). Naming a tenant one
may not see is a 404, the same answer as for a tenant that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from tenants.models import Tenant, User

View = Callable[..., HttpResponse]


def is_staff_role(user: User) -> bool:
    """Operators and tenant admins (with a tenant) run the dashboard."""
    return user.is_operator or (user.is_tenant_admin and user.tenant_id is not None)


def page_tenant(request: HttpRequest) -> Tenant | None:
    user: User = request.user  # type: ignore[assignment]
    slug = request.GET.get("tenant") or request.POST.get("tenant") or ""
    if not user.is_operator:
        if slug and slug != user.tenant.slug:
            raise Http404("No such tenant.")
        return user.tenant
    if not slug:
        return None
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


def signed_in(view: View) -> View:
    """Any active user; anonymous visitors are sent to the login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def staff_page(view: View) -> View:
    """Operators and tenant admins; sets `request.page_tenant`."""

    @signed_in
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_staff_role(request.user):  # type: ignore[arg-type]
            raise PermissionDenied("The dashboard is for tenant admins and operators.")
        request.page_tenant = page_tenant(request)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper
