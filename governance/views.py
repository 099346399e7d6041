"""Dashboard and self-service pages: authorise, one service or query call, render.

Each page is one template; its HTMX edits answer with the named fragment they replace
(`request.htmx`), and without JavaScript the same forms post and redirect back. Every
change goes through `governance.services`, so it is audited exactly as through the API.
Objects of another tenant are 404, as in the API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from audit.live import recent_items
from candela.api_auth import scope, users_visible_to
from candela.api_types import money_text
from governance import dashboard
from governance.forms import (
    BudgetForm,
    GrantForm,
    KeyPolicyForm,
    MintKeyForm,
    NewUserForm,
    TenantSettingsForm,
    attach_errors,
)
from governance.models import ApiKey, Budget, Grant
from governance.services.grants import create_grant
from governance.services.keys import mint_key, revoke_key, update_key
from governance.services.tenants import update_tenant
from governance.services.users import create_user, update_user
from tenants.decorators import signed_in, staff_page
from tenants.models import Tenant, User


def _back(request: HttpRequest, name: str) -> HttpResponse:
    """Where a form without HTMX returns: the list page, keeping the picked tenant."""
    response = redirect(name)
    tenant = request.POST.get("tenant") or request.GET.get("tenant")
    if tenant:
        response["Location"] += "?" + urlencode({"tenant": tenant})
    return response


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    tenants = Tenant.objects.order_by("slug") if request.user.is_operator else None
    return render(
        request,
        template,
        {"page_tenant": getattr(request, "page_tenant", None), "tenants": tenants, **context},
    )


# --- Developer self-service --------------------------------------------------------------


def _me_context(user: User) -> dict[str, Any]:
    return {
        "keys": ApiKey.objects.filter(owner=user).select_related("tenant"),
        "usage": dashboard.my_usage(user),
        "budget": dashboard.budget_status(user),
    }


@signed_in
def me(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if request.htmx and request.htmx.target == "my-usage":
        return render(request, "me/_usage.html", _me_context(user))
    return _page(request, "me/page.html", {**_me_context(user), "form": MintKeyForm()})


@signed_in
@require_POST
def me_mint_key(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = MintKeyForm(request.POST)
    minted = None
    if form.is_valid():
        try:
            key, raw = mint_key(actor=user, owner=user, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            minted = {"key": key, "raw": raw}
            form = MintKeyForm()
    context = {"form": form, "minted": minted}
    if request.htmx:
        return render(request, "me/_mint.html", context)
    # Without JavaScript the page itself shows the new key this once (no redirect: a
    # reload must not show it again, and it is never stored).
    return _page(request, "me/page.html", {**_me_context(user), **context})


@signed_in
@require_POST
def me_revoke_key(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.select_related("tenant"), pk=key_id, owner=request.user)
    revoke_key(actor=request.user, key=key)
    if request.htmx:
        return render(request, "me/_key_row.html", {"key": key})
    return redirect("me")


# --- Dashboard: overview ---------------------------------------------------------------------


@staff_page
def overview(request: HttpRequest) -> HttpResponse:
    tenant = request.page_tenant  # type: ignore[attr-defined]
    context = {"overview": dashboard.overview(tenant=tenant)}
    if request.htmx and request.htmx.target == "summary":
        return render(request, "dashboard/_summary.html", context)
    feed = recent_items(tenant.pk if tenant else None)
    return _page(request, "dashboard/overview.html", {**context, "feed": feed})


# --- Dashboard: users and budgets ---------------------------------------------------------------


def _users(request: HttpRequest) -> QuerySet[User]:
    users = users_visible_to(request.user)  # type: ignore[arg-type]
    tenant = request.page_tenant  # type: ignore[attr-defined]
    return users.filter(tenant=tenant) if tenant else users


def _money_initial(value: Decimal | None) -> str | None:
    return None if value is None else money_text(value)


def _budget_form(user: User, *, reload: bool = False) -> BudgetForm:
    # Listed users come with their budget (users_visible_to joins it); after an update the
    # budget is read again, as the service saved it through another instance.
    budget = Budget.objects.filter(user=user).first() if reload else getattr(user, "budget", None)
    budget = budget or Budget(user=user)
    return BudgetForm(
        initial={
            "daily_budget_usd": _money_initial(budget.daily_budget_usd),
            "rate_limit_rpm": budget.rate_limit_rpm,
        }
    )


@staff_page
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    tenant = request.page_tenant  # type: ignore[attr-defined]
    form = NewUserForm(request.POST or None)
    created = None
    if request.method == "POST" and tenant is None:
        form.add_error(None, "Pick the tenant the user belongs to first.")
    if request.method == "POST" and tenant is not None and form.is_valid():
        try:
            created = create_user(actor=request.user, tenant=tenant, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            if not request.htmx:
                return _back(request, "dashboard-users")
            form = NewUserForm()
    if request.method == "POST" and request.htmx:
        context = {"form": form, "page_tenant": tenant, "created": created}
        if created is not None:
            context["created_form"] = _budget_form(created, reload=True)
        return render(request, "dashboard/_new_user.html", context)
    rows = [(user, _budget_form(user)) for user in _users(request).order_by("email")]
    return _page(request, "dashboard/users.html", {"rows": rows, "form": form})


@staff_page
@require_POST
def user_budget(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(users_visible_to(request.user), pk=user_id)  # type: ignore[arg-type]
    form = BudgetForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            update_user(actor=request.user, user=user, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            form, saved = _budget_form(user, reload=True), True
    if not request.htmx:
        return _back(request, "dashboard-users")
    context = {"row": user, "form": form, "saved": saved, "page_tenant": request.page_tenant}  # type: ignore[attr-defined]
    return render(request, "dashboard/_user_row.html", context)


# --- Dashboard: keys ---------------------------------------------------------------------------


def _keys(request: HttpRequest) -> QuerySet[ApiKey]:
    keys = scope(ApiKey.objects.select_related("tenant", "owner"), request.user, "tenant")
    tenant = request.page_tenant  # type: ignore[attr-defined]
    return keys.filter(tenant=tenant) if tenant else keys


def _visible_key(request: HttpRequest, key_id: int) -> ApiKey:
    keys = scope(ApiKey.objects.select_related("tenant", "owner"), request.user, "tenant")
    return get_object_or_404(keys, pk=key_id)


def _policy_form(key: ApiKey) -> KeyPolicyForm:
    return KeyPolicyForm(
        initial={"allowed_models": key.allowed_models, "rate_limit_rpm": key.rate_limit_rpm}
    )


def _key_row(request: HttpRequest, key: ApiKey, form: KeyPolicyForm, saved: bool) -> HttpResponse:
    context = {"key": key, "form": form, "saved": saved, "page_tenant": request.page_tenant}  # type: ignore[attr-defined]
    return render(request, "dashboard/_key_row.html", context)


@staff_page
def keys(request: HttpRequest) -> HttpResponse:
    rows = [(key, _policy_form(key)) for key in _keys(request).order_by("-created_at", "-id")]
    return _page(request, "dashboard/keys.html", {"rows": rows})


@staff_page
@require_POST
def key_policy(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _visible_key(request, key_id)
    form = KeyPolicyForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            update_key(actor=request.user, key=key, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            form, saved = _policy_form(key), True
    if not request.htmx:
        return _back(request, "dashboard-keys")
    return _key_row(request, key, form, saved)


@staff_page
@require_POST
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = revoke_key(actor=request.user, key=_visible_key(request, key_id))
    if not request.htmx:
        return _back(request, "dashboard-keys")
    return _key_row(request, key, _policy_form(key), saved=False)


# --- Dashboard: grants ---------------------------------------------------------------------------


@staff_page
@require_http_methods(["GET", "POST"])
def grants(request: HttpRequest) -> HttpResponse:
    tenant = request.page_tenant  # type: ignore[attr-defined]
    people = _users(request).order_by("email")
    form = GrantForm(request.POST or None, users=people)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = create_grant(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            if not request.htmx:
                return _back(request, "dashboard-grants")
            form = GrantForm(users=people)
    if request.method == "POST" and request.htmx:
        context = {"form": form, "page_tenant": tenant, "created": created}
        return render(request, "dashboard/_grant_form.html", context)
    listed = Grant.objects.filter(user__in=people).select_related("user").order_by("-expires_at")
    context = {"grants": listed, "form": form, "now": timezone.now()}
    return _page(request, "dashboard/grants.html", context)


# --- Dashboard: tenant caps and PII settings ----------------------------------------------------


@staff_page
@require_http_methods(["GET", "POST"])
def tenant_settings(request: HttpRequest) -> HttpResponse:
    tenant = request.page_tenant  # type: ignore[attr-defined]
    if tenant is None:
        return _page(request, "dashboard/settings.html", {"form": None})
    initial = {name: getattr(tenant, name) for name in TenantSettingsForm.base_fields}
    initial.update(
        daily_cap_usd=_money_initial(tenant.daily_cap_usd),
        monthly_cap_usd=_money_initial(tenant.monthly_cap_usd),
    )
    form = TenantSettingsForm(request.POST or None, initial=initial)
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            update_tenant(actor=request.user, tenant=tenant, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            saved = True
            if not request.htmx:
                return _back(request, "dashboard-settings")
    context = {"form": form, "saved": saved}
    if request.htmx:
        return render(request, "dashboard/_settings_form.html", {**context, "page_tenant": tenant})
    return _page(request, "dashboard/settings.html", context)
