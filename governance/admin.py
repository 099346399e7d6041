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
from tenants.constants import Role
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

    def _in_scope(self, request, obj) -> bool:
        """Whether `obj` is one of the tenant admin's own objects. The history pages look
        objects (and their old versions) up without get_queryset, so this check guards them."""
        if obj is None or self._is_operator(request) or self.tenant_path is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        if self._is_operator(request):
            return True
        return (
            self.tenant_path is not None
            and self.has_module_permission(request)
            and self._in_scope(request, obj)
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A tenant admin picks among their own tenant and its (non-operator) users only.
        if not self._is_operator(request):
            if db_field.related_model is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk=request.user.tenant_id)
            elif db_field.related_model is User:
                kwargs["queryset"] = tenant_members(request.user.tenant_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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

    def save_formset(self, request, form, formset, change) -> None:
        # Inline rows (a user's budget) are governed too: audit them like the page's object.
        for obj in formset.save(commit=False):
            save_from_admin(actor=request.user, obj=obj, creating=obj.pk is None)
        for obj in formset.deleted_objects:
            delete_from_admin(actor=request.user, obj=obj)
        formset.save_m2m()


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


def tenant_members(tenant_id: int | None):
    """A tenant's users as its admins may govern them: operators are out of their reach."""
    return (
        User.objects.filter(tenant_id=tenant_id)
        .exclude(role=Role.OPERATOR)
        .exclude(is_superuser=True)
    )


@admin.register(User)
class CandelaUserAdmin(AuditedAdmin, UserAdmin):
    list_display = ["username", "email", "tenant", "role", "is_active"]
    list_filter = ["role", "tenant"]
    fieldsets = (*UserAdmin.fieldsets, ("Candela", {"fields": ("tenant", "role")}))
    add_fieldsets = (
        (None, {"fields": ("username", "email", "tenant", "role", "password1", "password2")}),
    )
    inlines = [BudgetInline]
    # What a tenant admin may not set: the role decides staff/superuser status.
    OPERATOR_ONLY_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self._is_operator(request):
            return queryset
        return queryset.exclude(role=Role.OPERATOR).exclude(is_superuser=True)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self._is_operator(request):
            return fieldsets
        return [
            (
                name,
                {
                    **options,
                    "fields": [f for f in options["fields"] if f not in self.OPERATOR_ONLY_FIELDS],
                },
            )
            for name, options in fieldsets
        ]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not self._is_operator(request):
            kwargs["choices"] = [c for c in Role.choices if c[0] != Role.OPERATOR]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


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
