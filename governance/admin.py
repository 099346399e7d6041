"""Django admin for every governed object, with history and tenant scoping."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from governance.models import ApiKey, Budget, Grant, ModelRoute, Price, Provider, UsageRecord
from governance.services.admin_saves import delete_from_admin, save_from_admin
from governance.services.keys import mint_key
from governance.services.providers import update_provider
from tenants.models import Tenant, User


class AuditedAdmin(SimpleHistoryAdmin):
    """Audits saves/deletes and scopes tenant admins to their own tenant.

    `tenant_path` is the ORM path from the model to its tenant (None: platform-wide
    objects, which tenant admins may only view).
    """

    tenant_path: str | None = "tenant"

    def _is_operator(self, request) -> bool:
        return bool(getattr(request.user, "is_operator", False))

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self._is_operator(request):
            return queryset
        if self.tenant_path is None:
            return queryset
        return queryset.filter(**{self.tenant_path: request.user.tenant_id})

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        if self._is_operator(request):
            return True
        return self.tenant_path is not None and self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return self.has_change_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        save_from_admin(actor=request.user, obj=obj, creating=not change)

    def delete_model(self, request, obj) -> None:
        delete_from_admin(actor=request.user, obj=obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            delete_from_admin(actor=request.user, obj=obj)


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin):
    tenant_path = "pk"
    list_display = ["slug", "name", "daily_cap_usd", "monthly_cap_usd", "pii_mode", "is_phi"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ("name",)}

    def has_add_permission(self, request) -> bool:
        return self._is_operator(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_operator(request)


class BudgetInline(admin.StackedInline):
    model = Budget
    can_delete = False


@admin.register(User)
class CandelaUserAdmin(AuditedAdmin, UserAdmin):
    list_display = ["username", "email", "tenant", "role", "is_active"]
    list_filter = ["role", "tenant"]
    fieldsets = (*UserAdmin.fieldsets, ("Candela", {"fields": ("tenant", "role")}))
    add_fieldsets = (
        (None, {"fields": ("username", "email", "tenant", "role", "password1", "password2")}),
    )
    inlines = [BudgetInline]


@admin.register(Grant)
class GrantAdmin(AuditedAdmin):
    tenant_path = "user__tenant"
    list_display = ["user", "amount_usd", "remaining_usd", "expires_at"]
    readonly_fields = ["remaining_usd"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.remaining_usd = obj.amount_usd
        super().save_model(request, obj, form, change)


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = [
            "name",
            "owner",
            "allowed_models",
            "rate_limit_rpm",
            "data_residency",
            "pii_mode",
            "pii_on_detect",
            "expires_at",
        ]


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    form = ApiKeyForm
    list_display = ["prefix", "name", "owner", "tenant", "expires_at", "revoked_at"]
    list_filter = ["tenant"]
    readonly_fields = ["prefix", "tenant", "revoked_at", "created_at"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        policy = {
            f: form.cleaned_data[f] for f in ApiKeyForm.Meta.fields if f not in {"name", "owner"}
        }
        key, raw = mint_key(actor=request.user, owner=obj.owner, name=obj.name, **policy)
        obj.pk = key.pk
        messages.warning(request, f"New key (shown once, copy it now): {raw}")


class ProviderForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text="Leave empty to keep the current one."
    )

    class Meta:
        model = Provider
        fields = [
            "name",
            "kind",
            "base_url",
            "api_key",
            "region",
            "baa",
            "monthly_budget_usd",
            "hard_cap",
            "priority",
            "enabled",
        ]


@admin.register(Provider)
class ProviderAdmin(AuditedAdmin):
    tenant_path = None
    form = ProviderForm
    list_display = ["name", "kind", "region", "baa", "priority", "enabled"]

    def save_model(self, request, obj, form, change) -> None:
        secret = form.cleaned_data.get("api_key") or None
        super().save_model(request, obj, form, change)
        if secret:
            update_provider(actor=request.user, provider=obj, api_key=secret)


@admin.register(ModelRoute)
class ModelRouteAdmin(AuditedAdmin):
    tenant_path = None
    list_display = [
        "name",
        "provider",
        "upstream_model",
        "input_usd_per_mtok",
        "output_usd_per_mtok",
    ]
    list_filter = ["provider"]


@admin.register(Price)
class PriceAdmin(AuditedAdmin):
    tenant_path = None
    list_display = ["model", "vendor", "input_usd_per_mtok", "output_usd_per_mtok"]
    list_filter = ["vendor"]


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tenant_id", "user_id", "model", "decision", "reason", "cost_usd"]
    list_filter = ["decision", "model"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if getattr(request.user, "is_operator", False):
            return queryset
        return queryset.filter(tenant_id=request.user.tenant_id)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)
